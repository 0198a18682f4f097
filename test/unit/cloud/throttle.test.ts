import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { Throttle } from '../../../src/cloud/throttle.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Throttle (leading + trailing, on the clock)', () => {
  it('runs at once after a quiet period, then once per window with the latest data', async () => {
    let value = 0;
    const seen: number[] = [];
    const t = new Throttle(systemClock, 250, () => void seen.push(value), () => undefined);
    value = 1;
    t.trigger();
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([1]);
    for (let i = 2; i <= 10_000; i++) {
      value = i;
      t.trigger();
    }
    await vi.advanceTimersByTimeAsync(249);
    expect(seen).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual([1, 10_000]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen).toEqual([1, 10_000]);
  });

  it('never overlaps runs: triggers during a slow run lead to exactly one more run', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const t = new Throttle(systemClock, 10, async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      await new Promise((r) => setTimeout(r, 100));
      running--;
    }, () => undefined);
    t.trigger();
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < 50; i++) t.trigger();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('flush runs a pending trigger now; stop drops it; errors go to the handler', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const t = new Throttle(systemClock, 1000, () => {
      runs++;
      if (runs === 2) throw new Error('boom');
    }, (e) => errors.push(e));
    t.trigger();
    await vi.advanceTimersByTimeAsync(0);
    t.trigger();
    await t.flush();
    expect(runs).toBe(2);
    expect(errors).toHaveLength(1);
    t.trigger();
    t.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toBe(2);
  });
});
