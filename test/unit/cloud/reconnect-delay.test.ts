import { describe, expect, it } from 'vitest';
import { reconnectDelay, RECONNECT } from '../../../src/cloud/reconnect-delay.js';
import { mulberry32 } from '../../../src/core/prng.js';


describe('reconnect delay', () => {
  it('after a lost session: uniform over 0 … 30 s, whatever the attempt count', () => {
    expect(reconnectDelay(0, 'lost', RECONNECT, () => 0)).toBe(0);
    expect(reconnectDelay(0, 'lost', RECONNECT, () => 1)).toBe(30_000);
    expect(reconnectDelay(7, 'lost', RECONNECT, () => 0.5)).toBe(15_000);
  });

  it('after a failed attempt: capped exponential, half of it jittered', () => {
    expect([0, 1, 2, 3, 10].map((a) => reconnectDelay(a, 'failed', RECONNECT, () => 0))).toEqual([500, 1000, 2000, 4000, 30_000]);
    expect([0, 1, 2, 3, 10].map((a) => reconnectDelay(a, 'failed', RECONNECT, () => 1))).toEqual([1000, 2000, 4000, 8000, 60_000]);
  });

  it('spreads a fleet dropped at one instant over the whole window: no second gets twice its share', () => {
    const random = mulberry32(42); // the spread is checked on a fixed, reproducible sample
    const n = 1000;
    const perSecond = new Array<number>(30).fill(0);
    for (let i = 0; i < n; i++) perSecond[Math.min(29, Math.floor(reconnectDelay(0, 'lost', RECONNECT, random) / 1000))]!++;
    // The old policy (1 s base, half jittered) put all 1000 into the first second.
    expect(perSecond.every((c) => c > 0)).toBe(true);
    expect(Math.max(...perSecond)).toBeLessThan((2 * n) / 30);
  });

  it('clamps a random source outside 0…1', () => {
    expect(reconnectDelay(0, 'lost', RECONNECT, () => 5)).toBe(30_000);
    expect(reconnectDelay(0, 'lost', RECONNECT, () => -5)).toBe(0);
    expect(reconnectDelay(0, 'failed', RECONNECT, () => -1)).toBe(500);
  });
});
