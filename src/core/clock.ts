/**
 * The system clock and time helpers. The system clock looks the globals up at call time on
 * purpose: `vi.useFakeTimers()` replaces them after this module has loaded. The interface itself
 * is defined with the hardware seam (drivers/clock.ts), which must not import src/.
 */
import { sleep, type Clock, type TimerHandle } from '../../drivers/clock.js';

export { sleep, type Clock, type TimerHandle };

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => {
    if (h !== undefined) globalThis.clearTimeout(h);
  },
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (h) => {
    if (h !== undefined) globalThis.clearInterval(h);
  },
};

/**
 * The sim board's clock: the system clock, set wrong on purpose while the sim plays a board
 * without RTC before NTP answers (`sim.clock {synced:false, behindMs}`), and stepped right again
 * when it "answers" — so the step reaches every holder of a wall time exactly as on a board.
 */
export class SimWallClock implements Clock {
  /** How far this clock is behind the system clock (0: right). */
  behindMs = 0;
  now(): number {
    return Date.now() - this.behindMs;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return systemClock.setTimeout(fn, ms);
  }
  clearTimeout(h: TimerHandle | undefined): void {
    systemClock.clearTimeout(h);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return systemClock.setInterval(fn, ms);
  }
  clearInterval(h: TimerHandle | undefined): void {
    systemClock.clearInterval(h);
  }
}

/** Capped exponential backoff with optional full jitter (AWS style): base * 2^attempt, capped. */
export function backoffDelay(
  attempt: number,
  opts: { baseMs: number; maxMs: number; jitter?: boolean; random?: () => number },
): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt));
  if (!opts.jitter) return exp;
  const r = (opts.random ?? Math.random)();
  // Keep half the delay fixed so a jittered retry never hammers immediately.
  return Math.round(exp / 2 + (exp / 2) * r);
}
