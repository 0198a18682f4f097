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
  /**
   * `confirmation_required` only: the one-time token to send back as `confirm` (also quoted in
   * the message, for a person reading it), so a client never has to parse the message.
   */
  confirm?: string;
  /** What the caller needs to decide, as data: for `confirmation_required`, what would be destroyed. */
  details?: Record<string, unknown>;
}

/** An error meant for the caller: its code/message/path travel unchanged to camctl and MQTT. */
export class CamdError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
    /** See ErrorBody.confirm and ErrorBody.details. */
    readonly extra: { confirm?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'CamdError';
  }

  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.path !== undefined && { path: this.path }),
      ...(this.extra.confirm !== undefined && { confirm: this.extra.confirm }),
      ...(this.extra.details !== undefined && { details: this.extra.details }),
    };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
