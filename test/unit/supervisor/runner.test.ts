import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogging } from '../../../src/core/log.js';
import { systemClock, backoffDelay } from '../../../src/core/clock.js';
import { ChildRunner } from '../../../src/supervisor/runner.js';
import { StateStore, initialState } from '../../../src/state/store.js';

const logging = silentLogging();

function until(check: () => boolean): Promise<void> {
  // Waits on real child-process I/O (not timers): bounded by the test timeout.
  return vi.waitUntil(check, { timeout: 10_000, interval: 10 }).then(() => undefined);
}

describe('backoffDelay', () => {
  it('doubles and caps; jitter stays within [exp/2, exp]', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, { baseMs: 100, maxMs: 1000 }))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 1000, jitter: true, random: () => 0 })).toBe(400);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 1000, jitter: true, random: () => 1 })).toBe(800);
  });
});

describe('ChildRunner', () => {
  let state: StateStore;
  beforeEach(() => {
    state = new StateStore(initialState(1, 'x', 0));
  });
  afterEach(() => vi.useRealTimers());

  it('restarts a crashing child with capped exponential backoff and reports health; stderr goes to the log', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    let failed: boolean | undefined;
    let spawns = 0;
    const runner = new ChildRunner(
      {
        name: 'crasher',
        command: 'sh',
        args: ['-c', 'echo "bad input" >&2; exit 3'],
        backoff: { baseMs: 1000, maxMs: 4000 },
        failAfter: 3,
        onSpawn: () => void spawns++,
        onFailedChange: (f) => (failed = f),
      },
      { clock: systemClock, log: logging.forComponent('child:crasher'), state },
    );
    runner.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      await until(() => state.get().children.crasher?.status === 'backoff' || state.get().children.crasher?.status === 'failed');
      const h = state.get().children.crasher!;
      expect(h.lastExit?.code).toBe(3);
      delays.push(h.nextStartAt! - h.lastExit!.at);
      vi.advanceTimersByTime(Math.max(0, h.nextStartAt! - Date.now()));
      await until(() => spawns === i + 2);
      await until(() => state.get().children.crasher?.status !== 'running');
    }
    expect(delays).toEqual([1000, 2000, 4000, 4000]);
    expect(failed).toBe(true);
    expect(state.get().children.crasher!.status).toBe('failed');
    expect(logging.ring.recent().some((l) => l.stderr === 'bad input' && l.component === 'child:crasher')).toBe(true);
    await runner.stop();
    expect(state.get().children.crasher!.status).toBe('stopped');
  });

  it('kills and restarts a stalled child', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    let spawns = 0;
    const runner = new ChildRunner(
      { name: 'staller', command: 'sleep', args: ['30'], stallTimeoutMs: 5000, backoff: { baseMs: 100, maxMs: 100 }, onSpawn: () => void spawns++ },
      { clock: systemClock, log: logging.forComponent('child:staller'), state },
    );
    runner.start();
    const firstPid = runner.pid;
    vi.advanceTimersByTime(5000);
    await until(() => state.get().children.staller?.status === 'backoff');
    expect(state.get().children.staller!.lastExit?.signal).toBe('SIGKILL');
    vi.advanceTimersByTime(100);
    await until(() => spawns === 2);
    expect(runner.pid).not.toBe(firstPid);
    await runner.stop();
  });

  it('stop() terminates the child and does not restart it', async () => {
    const runner = new ChildRunner({ name: 'sleeper', command: 'sleep', args: ['30'] }, { clock: systemClock, log: logging.forComponent('c'), state });
    runner.start();
    const pid = runner.pid!;
    await runner.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(state.get().children.sleeper!.status).toBe('stopped');
  });
});
