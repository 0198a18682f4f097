/** Machine-readable error codes shared by the control socket, camctl and the MQTT replies. */
export type ErrorCode =
  | 'malformed'
  | 'unknown_command'
  | 'invalid_args'
  | 'confirmation_required'
  /** The caller may not do this (README "Who may do what"); the message names the rule. */
  | 'forbidden'
  | 'unavailable'
  | 'busy'
  | 'not_found'
  | 'too_large'
  | 'failed';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** JSON path of the offending value, e.g. `detection.human.sensitivity`. */
  path?: string;
}

/** An error meant for the caller: its code/message/path travel unchanged to camctl and MQTT. */
export class CamdError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
    this.name = 'CamdError';
  }

  toBody(): ErrorBody {
    return this.path === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, path: this.path };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
