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

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HostKeeper', () => {
  it('re-creates a host whose worker died, after a growing backoff', async () => {
    const hosts: FakeHost[] = [];
    const { k, changes } = keeper(async () => {
      const h = new FakeHost();
      hosts.push(h);
      return h;
    });
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
    const hosts: FakeHost[] = [];
    const { k } = keeper(
      async () => {
        const h = new FakeHost();
        hosts.push(h);
        return h;
      },
      { maxRestarts: 2, windowMs: 60_000 },
    );
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
    const hosts: FakeHost[] = [];
    const { k } = keeper(async () => {
      const h = new FakeHost();
      hosts.push(h);
      return h;
    }, { maxRestarts: 1, windowMs: 60_000 });
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
    const hosts: FakeHost[] = [];
    const { k } = keeper(async () => {
      const h = new FakeHost();
      hosts.push(h);
      return h;
    });
    k.start();
    await vi.advanceTimersByTimeAsync(0);
    hosts[0]!.die();
    await vi.advanceTimersByTimeAsync(0);
    await k.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hosts).toHaveLength(1);
    expect(k.current).toBeNull();
  });
});
