import type { Duplex } from 'node:stream';
import { errnoOf, HardwareError, type HardwareErrorCode } from '../errors.js';
import type { Timeline } from '../timeline.js';
import { createStreamLink } from './stream.js';
import type { SerialLink } from './types.js';

/** What this backend needs of a node-serialport port (SerialPort, or SerialPortMock in tests). */
export interface PortLike extends Duplex {
  open(callback: (err: Error | null) => void): void;
  close(callback: (err: Error | null) => void): void;
  drain(callback: (err: Error | null) => void): void;
}
export type PortFactory = (o: { path: string; baudRate: number; autoOpen: false }) => PortLike;

export interface SerialPortLinkOptions {
  timeline?: Timeline;
  /** Builds the port; tests pass one that makes a SerialPortMock on the official mock binding. */
  createPort?: PortFactory;
  onError?: (err: Error) => void;
}

/**
 * A UART through node-serialport, 8N1 at the board's baud rate.
 *
 * RS-485: the PTZ bus is half duplex, so the transceiver's driver-enable must be raised exactly
 * while the UART shifts bytes out. node-serialport cannot do that: on Linux it has no TIOCSRS485
 * ioctl, and `port.set({ rts })` from user space is far too slow for the turnaround. The kernel
 * does it instead: the board's device tree enables RS-485 on the UART
 * (`linux,rs485-enabled-at-boot-time; rs485-rts-delay = <0 0>;`), and the 8250/dw driver drives
 * DE from RTS itself. Here `rs485` only makes each write wait for tcdrain, so a reply timeout
 * starts when the request has left the wire, not when it was queued.
 */
export async function openSerialPortLink(
  name: string,
  def: { path: string; baudRate: number; rs485?: boolean },
  opts: SerialPortLinkOptions = {},
): Promise<SerialLink> {
  const create = opts.createPort ?? (await defaultFactory());
  const port = create({ path: def.path, baudRate: def.baudRate, autoOpen: false });
  try {
    await callback((cb) => port.open(cb));
  } catch (err) {
    throw serialOpenError(name, def.path, err);
  }
  return createStreamLink(
    name,
    { readable: port, writable: port },
    {
      timeline: opts.timeline,
      onError: opts.onError,
      drain: def.rs485 === false ? undefined : () => callback((cb) => port.drain(cb)),
      close: () => callback((cb) => port.close(cb)).catch(() => undefined),
    },
  );
}

async function defaultFactory(): Promise<PortFactory> {
  // Loaded on demand: the native binding is only needed on a board with a real UART.
  const { SerialPort } = await import('serialport');
  return (o) => new SerialPort(o);
}

function callback(run: (cb: (err: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
}

export function serialOpenError(name: string, path: string, err: unknown): HardwareError {
  const message = err instanceof Error ? err.message : String(err);
  // The native binding reports strerror text ("Error: Permission denied, cannot open …"), no code.
  const errno =
    errnoOf(err) ??
    (/no such file/i.test(message) ? 'ENOENT' : /permission denied/i.test(message) ? 'EACCES' : /cannot lock port|busy/i.test(message) ? 'EBUSY' : undefined);
  const known: Record<string, [HardwareErrorCode, string]> = {
    ENOENT: ['ENOENT', 'no such device (is the UART enabled in the device tree?)'],
    EACCES: ['EACCES', 'permission denied (add camd to the dialout group)'],
    EBUSY: ['EBUSY', 'busy: another process holds it (a getty or the kernel console on this UART?)'],
  };
  const [code, text] = (errno && known[errno]) || ['EIO', message];
  return new HardwareError(code, `serial port ${name} (${path}): ${text}`, { cause: err });
}
