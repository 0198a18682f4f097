import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { blinkStatsOf, median, Timeline } from '../../../drivers/timeline.js';

const gpio = (name: string, value: 0 | 1) => ({ kind: 'gpio' as const, name, line: 1, value });

/** Records a square wave on `name`: rises every periodMs, high for duty × period, `cycles` times. */
async function squareWave(tl: Timeline, name: string, periodMs: number, duty: number, cycles: number): Promise<void> {
  for (let i = 0; i < cycles; i++) {
    tl.record(gpio(name, 1));
    await vi.advanceTimersByTimeAsync(periodMs * duty);
    tl.record(gpio(name, 0));
    await vi.advanceTimersByTimeAsync(periodMs * (1 - duty));
  }
}

describe('Timeline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stamps entries with the clock and filters them by kind, source, time or predicate', () => {
    const tl = new Timeline(systemClock);
    tl.record(gpio('ledRed', 1));
    vi.advanceTimersByTime(10);
    tl.record({ kind: 'serial', port: 'rs485', dir: 'tx', bytes: [1, 2] });
    tl.record({ kind: 'i2c', bus: 'main', address: 0x40, register: 0, bytes: [0x20], dir: 'write' });
    expect(tl.entries().map((e) => e.t)).toEqual([1_000_000, 1_000_010, 1_000_010]);
    expect(tl.entries({ kind: 'serial' })).toHaveLength(1);
    expect(tl.entries({ source: 'main' })[0]).toMatchObject({ kind: 'i2c', address: 0x40 });
    expect(tl.since(1_000_010)).toHaveLength(2);
    expect(tl.entries({ to: 1_000_000 })).toHaveLength(1);
    expect(tl.entries((e) => e.kind === 'gpio')).toHaveLength(1);
  });

  it('notifies listeners until they unsubscribe, and survives a throwing one', () => {
    const tl = new Timeline(systemClock);
    const seen: string[] = [];
    tl.onRecord(() => {
      throw new Error('broken listener');
    });
    const off = tl.onRecord((e) => seen.push(e.kind));
    tl.record(gpio('a', 1));
    off();
    tl.record(gpio('a', 0));
    expect(seen).toEqual(['gpio']);
  });

  it('keeps the newest entries within capacity and counts the dropped ones', () => {
    const tl = new Timeline(systemClock, { capacity: 3 });
    for (let i = 0; i < 5; i++) tl.record({ kind: 'serial', port: 'p', dir: 'tx', bytes: [i] });
    expect(tl.size).toBe(3);
    expect(tl.dropped).toBe(2);
    expect(tl.entries().map((e) => (e.kind === 'serial' ? e.bytes[0] : -1))).toEqual([2, 3, 4]);
    tl.clear();
    expect(tl.size).toBe(0);
    expect(tl.dropped).toBe(0);
  });

  it('answers levelAt and edges, ignoring a repeated level', () => {
    const tl = new Timeline(systemClock);
    const t0 = Date.now();
    tl.record(gpio('led', 0));
    vi.advanceTimersByTime(100);
    tl.record(gpio('led', 1));
    vi.advanceTimersByTime(100);
    tl.record(gpio('led', 1));
    vi.advanceTimersByTime(100);
    tl.record(gpio('led', 0));
    expect(tl.levelAt('led', t0 - 1)).toBeUndefined();
    expect(tl.levelAt('led', t0 + 50)).toBe(0);
    expect(tl.levelAt('led', t0 + 250)).toBe(1);
    expect(tl.edges('led')).toEqual([
      { t: t0 + 100, value: 1 },
      { t: t0 + 300, value: 0 },
    ]);
    expect(tl.edges('led', t0 + 150)).toEqual([{ t: t0 + 300, value: 0 }]);
  });

  it('measures a 1 Hz 50 % square wave and a 5 Hz 25 % one', async () => {
    const tl = new Timeline(systemClock);
    const t0 = Date.now();
    tl.record(gpio('blue', 0));
    await squareWave(tl, 'blue', 1000, 0.5, 4);
    const slow = tl.blinkStats('blue', t0, Date.now());
    expect(slow).toEqual({ rises: 4, falls: 4, periodMs: 1000, dutyCycle: 0.5, steadyLevel: null });

    const t1 = Date.now();
    await squareWave(tl, 'blue', 200, 0.25, 8);
    const fast = tl.blinkStats('blue', t1, Date.now());
    expect(fast.periodMs).toBe(200);
    expect(fast.dutyCycle).toBe(0.25);
    expect(fast.rises).toBe(8);
  });

  it('reports the steady level when nothing changed in the window', () => {
    const tl = new Timeline(systemClock);
    tl.record(gpio('red', 1));
    vi.advanceTimersByTime(5000);
    expect(tl.blinkStats('red', Date.now() - 3000, Date.now())).toEqual({ rises: 0, falls: 0, periodMs: null, dutyCycle: null, steadyLevel: 1 });
    expect(tl.blinkStats('never-opened', 0, Date.now()).steadyLevel).toBeNull();
  });

  it('computes medians and tolerates a single rise', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNull();
    expect(blinkStatsOf([{ t: 10, value: 1 }], () => 0)).toEqual({ rises: 1, falls: 0, periodMs: null, dutyCycle: null, steadyLevel: null });
  });
});
