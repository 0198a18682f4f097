import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { CamdError } from '../core/errors.js';

/**
 * Two-step confirmation for destructive commands (factory reset, card initialise): the first call
 * gets a one-time token in a `confirmation_required` error (in its `confirm` field, and quoted in
 * the message for a person), the second must bring it back within the time limit. A token works
 * once.
 */
export class ConfirmationTokens {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 60_000,
  ) {}

  /**
   * Returns when `confirm` is a live token (and uses it up); otherwise throws the caller's error.
   * `details` (what would be destroyed, as data) travel in the error for the client to show.
   */
  check(confirm: string | undefined, consequence: string, details?: Record<string, unknown>): void {
    const now = this.clock.now();
    for (const [t, exp] of this.tokens) if (exp < now) this.tokens.delete(t);
    if (!confirm) {
      const token = randomUUID();
      this.tokens.set(token, now + this.ttlMs);
      throw new CamdError('confirmation_required', `${consequence}; repeat with confirm="${token}" within ${Math.round(this.ttlMs / 1000)} s`, 'confirm', { confirm: token, ...(details && { details }) });
    }
    if (!this.tokens.delete(confirm)) throw new CamdError('invalid_args', 'confirmation token unknown or expired', 'confirm');
  }
}
