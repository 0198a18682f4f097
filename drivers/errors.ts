/**
 * Errors from the hardware layer carry the kernel's errno name as `code`, whether they come from
 * a real backend (where the kernel set it) or from a sim twin (which imitates it), so callers
 * and tests can tell "busy" from "no device" the same way on both.
 */
export type HardwareErrorCode =
  | 'EBUSY' // line or port already claimed
  | 'EIO' // the part did not open or the transfer failed
  | 'EREMOTEIO' // no I2C device acknowledged the address (NACK)
  | 'ETIMEDOUT' // a serial receiver did not answer in time
  | 'EBADMSG' // a reply arrived with a bad checksum
  | 'EINVAL' // an argument the hardware cannot take
  | 'EBADF' // used after close
  | 'EACCES' // no permission
  | 'ENOENT' // no such line, bus or port
  | 'ENODEV'; // the kernel interface is missing

export class HardwareError extends Error {
  constructor(
    readonly code: HardwareErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HardwareError';
  }
}

export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function hex(n: number, width = 2): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}
