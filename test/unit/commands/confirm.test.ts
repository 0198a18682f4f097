import { describe, expect, it } from 'vitest';
import { ConfirmationTokens } from '../../../src/commands/confirm.js';
import { type CamdError } from '../../../src/core/errors.js';
import type { Clock } from '../../../src/core/clock.js';

function manualClock(): Clock & { t: number } {
  const c = { t: 1_000, now: () => c.t, setTimeout: () => undefined as never, clearTimeout: () => undefined, setInterval: () => undefined as never, clearInterval: () => undefined };
  return c;
}

function thrown(fn: () => void): CamdError {
  try {
    fn();
  } catch (err) {
    return err as CamdError;
  }
  throw new Error('did not throw');
}

describe('ConfirmationTokens', () => {
  it('asks first, accepts the token once, and refuses it after the time limit', () => {
    const clock = manualClock();
    const tokens = new ConfirmationTokens(clock, 60_000);
    const ask = thrown(() => tokens.check(undefined, 'this erases the card'));
    expect(ask).toMatchObject({ code: 'confirmation_required', path: 'confirm' });
    expect(ask.message).toMatch(/^this erases the card; repeat with confirm="[0-9a-f-]{36}" within 60 s$/);
    const token = /confirm="([^"]+)"/.exec(ask.message)![1]!;
    // The same token as a field of its own: clients need not parse the message.
    expect(ask.toBody()).toEqual({ code: 'confirmation_required', message: ask.message, path: 'confirm', confirm: token });
    expect(() => tokens.check(token, 'x')).not.toThrow();
    expect(thrown(() => tokens.check(token, 'x'))).toMatchObject({ code: 'invalid_args', message: 'confirmation token unknown or expired' });

    const late = /confirm="([^"]+)"/.exec(thrown(() => tokens.check(undefined, 'x')).message)![1]!;
    clock.t += 60_001;
    expect(thrown(() => tokens.check(late, 'x'))).toMatchObject({ code: 'invalid_args' });
  });
});
