import { describe, expect, it } from 'vitest';
import { ResetPress } from '../../../src/reset/press.js';

const HOLD = 5000;

describe('ResetPress', () => {
  it('a release before the hold is a short press with its duration', () => {
    const p = new ResetPress(HOLD, false);
    expect(p.press(1000)).toEqual({ kind: 'pressed', armHoldMs: HOLD });
    expect(p.release(1000 + HOLD - 1)).toEqual({ kind: 'short-press', heldMs: HOLD - 1 });
  });

  it('held at boot: that press and its release are ignored, the next one counts', () => {
    const p = new ResetPress(HOLD, true);
    expect(p.ignoring).toBe(true);
    expect(p.press(0)).toEqual({ kind: 'ignored' });
    expect(p.release(60_000)).toEqual({ kind: 'ignored' });
    expect(p.press(61_000)).toEqual({ kind: 'pressed', armHoldMs: HOLD });
    expect(p.release(61_200)).toEqual({ kind: 'short-press', heldMs: 200 });
  });

  it('the reset begins once; the release after it is no short press, nor is any later one', () => {
    const p = new ResetPress(HOLD, false);
    p.press(0);
    expect(p.beginReset()).toBe(true);
    expect(p.beginReset()).toBe(false);
    expect(p.release(HOLD + 300)).toEqual({ kind: 'released-after-reset', heldMs: HOLD + 300 });
    p.press(10_000);
    expect(p.release(10_100)).toEqual({ kind: 'released-after-reset', heldMs: 100 });
  });

  it('a release held exactly the hold time is not a short press (the timer fired at that instant)', () => {
    const p = new ResetPress(HOLD, false);
    p.press(0);
    expect(p.release(HOLD)).toEqual({ kind: 'released-after-reset', heldMs: HOLD });
  });
});
