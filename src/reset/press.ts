/**
 * The RESET button's meaning, as a pure state machine (times in ms on the injected clock):
 * - held at boot: ignored until released (a stuck or held button must not reset the camera);
 * - held for `holdMs`: factory reset, once (the service arms a timer on `armHold`);
 * - released earlier: a short press, which opens the presence window.
 * The service turns these decisions into timers, events and state; this decides nothing else.
 */
export type PressDecision =
  | { kind: 'ignored' }
  | { kind: 'pressed'; armHoldMs: number }
  | { kind: 'short-press'; heldMs: number }
  | { kind: 'released-after-reset'; heldMs: number };

export class ResetPress {
  private pressedAt: number | undefined;
  private ignoreUntilRelease: boolean;
  private resetting = false;

  constructor(
    private readonly holdMs: number,
    heldAtStart: boolean,
  ) {
    this.ignoreUntilRelease = heldAtStart;
  }

  get ignoring(): boolean {
    return this.ignoreUntilRelease;
  }

  press(now: number): PressDecision {
    if (this.ignoreUntilRelease) return { kind: 'ignored' };
    this.pressedAt = now;
    return { kind: 'pressed', armHoldMs: this.holdMs };
  }

  release(now: number): PressDecision {
    if (this.ignoreUntilRelease) {
      this.ignoreUntilRelease = false;
      return { kind: 'ignored' };
    }
    const heldMs = this.pressedAt === undefined ? 0 : now - this.pressedAt;
    this.pressedAt = undefined;
    if (heldMs < this.holdMs && !this.resetting) return { kind: 'short-press', heldMs };
    return { kind: 'released-after-reset', heldMs };
  }

  /** The hold timer fired (or a command asked): true only the first time. */
  beginReset(): boolean {
    if (this.resetting) return false;
    this.resetting = true;
    return true;
  }
}
