/**
 * Waiting on real things (child processes, sockets, a broker, fsync) without depending on speed.
 *
 * The deadlines written in the tests are what an idle developer machine needs. CI, or a machine
 * whose two cores are shared with other work, can be many times slower, and a test must never
 * fail for that. So every deadline is stretched by `SLACK` (and never shorter than `MIN_WAIT_MS`):
 * a generous deadline costs nothing while things work (the wait returns as soon as the condition
 * holds); it only makes a test that would fail anyway fail later.
 *
 * The timers and the clock are captured at import, so these waits keep real time even while a
 * test runs under vitest's fake timers.
 */
const realSetTimeout = globalThis.setTimeout;
const realNow = (): number => performance.now();

/** How many times slower than an idle machine a run may be. `CAMD_TEST_SLACK` overrides it. */
export const SLACK = Math.max(1, Number(process.env.CAMD_TEST_SLACK) || 6);
/** No real-time wait gives up sooner than this. */
export const MIN_WAIT_MS = 30_000;

/**
 * Per-test and per-hook timeout for tests that run real processes (daemon, ffmpeg, mosquitto,
 * socat, namespaces): far above vitest's 30 s default, so a busy machine only makes them slower.
 */
export const PROCESS_TEST_MS = 180_000;
/** For the few tests whose idle run is already long (tens of seconds of real footage). */
export const LONG_PROCESS_TEST_MS = 300_000;
/** `vi.setConfig(PROCESS_TIMEOUTS)` at the top of a file: every test and hook in it. */
export const PROCESS_TIMEOUTS = { testTimeout: PROCESS_TEST_MS, hookTimeout: PROCESS_TEST_MS } as const;

/** The real-time deadline for something an idle machine does within `idleMs`. */
export function patience(idleMs: number): number {
  return Math.max(idleMs * SLACK, MIN_WAIT_MS);
}

/** Sleeps in real time (fake timers or not). Only for pacing a loop, never to wait for an outcome. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => realSetTimeout(r, ms));
}

/**
 * Polls `check` until it returns something other than `undefined`/`false` and returns that.
 * `idleMs` is what an idle machine needs; the deadline is `patience(idleMs)`.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  idleMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const limit = patience(idleMs);
  const end = realNow() + limit;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (realNow() > end) throw new Error(`timed out after ${Math.round(limit / 1000)} s waiting for ${what} (idle machine: ${idleMs} ms)`);
    await pause(everyMs);
  }
}
