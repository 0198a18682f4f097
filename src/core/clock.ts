/**
 * Time behind an interface so blink rates, the reset hold, backoffs and timeouts run under vitest
 * fake timers or a manual clock in tests. The system clock looks the globals up at call time on
 * purpose: `vi.useFakeTimers()` replaces them after this module has loaded.
 */
export type TimerHandle = ReturnType<typeof globalThis.setTimeout>;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

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

/** Resolves after `ms` on the given clock; rejects with the signal's reason when aborted. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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
