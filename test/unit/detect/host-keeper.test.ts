import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { HostKeeper, ModelFileError, type HostStatus, type KeptHost } from '../../../src/detect/host-keeper.js';

/**
 * The restart policy of the object-detector host, on fake timers. The hosts are small fakes
 * whose worker can be made to die: this is about when the keeper re-creates them, not about
 * inference (the real host is exercised by the detect-daemon integration tests).
 */
class FakeHost implements KeptHost {
  closed = false;
  inFlight = 0;
  /** Set to hold close() open, like a worker still finishing its run. */
  hold: Promise<void> | undefined;
  private listeners = new Set<(err: Error) => void>();
  detect() {
    return null;
  }
  onFailure(l: (err: Error) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  async close(): Promise<void> {
    this.closed = true;
    await this.hold;
  }
  die(message = 'worker exited with code 1'): void {
    for (const l of this.listeners) l(new Error(message));
  }
}

const log = pino({ level: 'silent' });

function keeper(open: () => Promise<KeptHost>, opts: { maxRestarts?: number; windowMs?: number } = {}) {
  const changes: { status: HostStatus; host: KeptHost | null; reason?: string }[] = [];
  const k = new HostKeeper({
    open,
    clock: systemClock,
    log,
    ...opts,
    onChange: (host, status, reason) => changes.push({ status, host, ...(reason ? { reason } : {}) }),
  });
  return { k, changes };
}

/** A keeper whose every open() makes a new FakeHost, all of them kept in `hosts` in order. */
function fakeHostKeeper(opts: { maxRestarts?: number; windowMs?: number } = {}) {
  const hosts: FakeHost[] = [];
  const kept = keeper(async () => {
    const h = new FakeHost();
    hosts.push(h);
    return h;
  }, opts);
  return { ...kept, hosts };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HostKeeper', () => {
  it('re-creates a host whose worker died, after a growing backoff', async () => {
    const { k, changes, hosts } = fakeHostKeeper();
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(k.status).toBe('ready');
    expect(k.current).toBe(hosts[0]);

    hosts[0]!.die();
    await vi.advanceTimersByTimeAsync(0);
    expect(k.status).toBe('restarting');
    expect(k.current).toBeNull();
    expect(hosts[0]!.closed).toBe(true);
    expect(changes.at(-1)).toEqual({ status: 'restarting', host: null, reason: 'inference worker failed: worker exited with code 1' });
    await vi.advanceTimersByTimeAsync(999);
    expect(hosts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(hosts).toHaveLength(2);
    expect(k.status).toBe('ready');
    expect(k.restarts).toBe(1);

    hosts[1]!.die();
    await vi.advanceTimersByTimeAsync(1999);
    expect(hosts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(hosts).toHaveLength(3);
    expect(k.current).toBe(hosts[2]);
    await k.stop();
    expect(hosts[2]!.closed).toBe(true);
  });

  it('gives up after too many failures in the window: failed, cause worker', async () => {
    const { k, hosts } = fakeHostKeeper({ maxRestarts: 2, windowMs: 60_000 });
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 2; i++) {
      hosts.at(-1)!.die();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(k.status).toBe('ready');
    }
    hosts.at(-1)!.die();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(k.status).toBe('failed');
    expect(k.failure).toBe('worker');
    expect(k.reason).toMatch(/3 failures within 1 min/);
    expect(hosts).toHaveLength(3);
    await k.stop();
  });

  it('failures spread out beyond the window do not add up', async () => {
    const { k, hosts } = fakeHostKeeper({ maxRestarts: 1, windowMs: 60_000 });
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 4; i++) {
      hosts.at(-1)!.die();
      await vi.advanceTimersByTimeAsync(61_000);
      expect(k.status).toBe('ready');
    }
    expect(k.restarts).toBe(4);
    await k.stop();
  });

  it('a missing or altered model fails at once and is not retried', async () => {
    let opens = 0;
    const { k, changes } = keeper(async () => {
      opens++;
      throw new ModelFileError('object detection model /m.onnx: file not found');
    });
    k.start();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(opens).toBe(1);
    expect(k.status).toBe('failed');
    expect(k.failure).toBe('model');
    expect(changes).toEqual([{ status: 'failed', host: null, reason: 'object detection model /m.onnx: file not found' }]);
    await k.stop();
  });

  it('a worker that will not start is retried like one that died', async () => {
    let opens = 0;
    const { k } = keeper(async () => {
      opens++;
      if (opens === 1) throw new Error('inference worker exited during start (code 1)');
      return new FakeHost();
    });
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(k.status).toBe('restarting');
    expect(k.reason).toMatch(/did not start: inference worker exited during start/);
    await vi.advanceTimersByTimeAsync(1000);
    expect(k.status).toBe('ready');
    await k.stop();
  });

  it('stop() during a backoff: nothing is opened afterwards', async () => {
    const { k, hosts } = fakeHostKeeper();
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    hosts[0]!.die();
    await vi.advanceTimersByTimeAsync(0);
    await k.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hosts).toHaveLength(1);
    expect(k.current).toBeNull();
  });

  it('stop() resolves only after the current host and a dead one still closing have both ended', async () => {
    const { k, hosts } = fakeHostKeeper();
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    let endDead!: () => void;
    hosts[0]!.hold = new Promise((r) => (endDead = r));
    hosts[0]!.die();
    await vi.advanceTimersByTimeAsync(1000);
    expect(k.current).toBe(hosts[1]);
    let endCurrent!: () => void;
    hosts[1]!.hold = new Promise((r) => (endCurrent = r));
    hosts[1]!.inFlight = 1;
    let stopped = false;
    void k.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(hosts[1]!.closed).toBe(true);
    endCurrent();
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false); // the dead host's worker has not ended yet
    endDead();
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(true);
  });

  it('stop() while a host is opening waits for it, then closes it before resolving', async () => {
    let finishOpen!: (h: KeptHost) => void;
    const h = new FakeHost();
    let endClose!: () => void;
    h.hold = new Promise((r) => (endClose = r));
    const { k } = keeper(() => new Promise<KeptHost>((r) => (finishOpen = r)));
    k.start();
    let stopped = false;
    void k.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    finishOpen(h);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.closed).toBe(true);
    expect(stopped).toBe(false);
    endClose();
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(true);
    expect(k.current).toBeNull();
  });

  it('a host that fails to close is logged, and stop() still resolves', async () => {
    const lines: string[] = [];
    const h = new FakeHost();
    h.hold = Promise.reject(new Error('inference worker did not stop within 10000 ms: terminated'));
    h.hold.catch(() => undefined);
    const k = new HostKeeper({
      open: async () => h,
      clock: systemClock,
      log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
      onChange: () => undefined,
    });
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    await k.stop();
    expect(lines.join('')).toContain('did not stop within 10000 ms');
    expect(lines.some((l) => JSON.parse(l).msg === 'object detector stopped')).toBe(true);
  });
});
