import { mulberry32 } from '../../../src/core/prng.js';

/**
 * A scripted evening and the following morning, in lux over time since its start (ms). Twilight
 * is close to exponential, so the ramps are log-linear between DAY_LUX and NIGHT_LUX; the noise is
 * a seeded function of time (±15 % and ±1 lx, new every 500 ms), so it is the same for whoever
 * reads the curve and whenever.
 */
export const MIN = 60_000;
export const DAY_LUX = 500;
export const NIGHT_LUX = 0.5;
export const DUSK = { from: 10 * MIN, to: 50 * MIN };
/** A car's headlights across the sensor at night: 5 s of 200 lx. */
export const HEADLIGHTS = { at: 60 * MIN, ms: 5000, lux: 200 };
/** The camera's own spotlight switched on at night (integration test: through the alarm). */
export const SPOTLIGHT = { at: 70 * MIN, ms: 120_000 };
export const DAWN = { from: 100 * MIN, to: 140 * MIN };
export const END = 150 * MIN;

export function ramp(t: number, from: number, to: number, a: number, b: number): number {
  const p = Math.min(1, Math.max(0, (t - from) / (to - from)));
  return a * (b / a) ** p;
}

/** The ambient light (no camera light), noise-free. */
export function ambient(t: number): number {
  if (t < DUSK.from) return DAY_LUX;
  if (t < DUSK.to) return ramp(t, DUSK.from, DUSK.to, DAY_LUX, NIGHT_LUX);
  if (t < DAWN.from) return NIGHT_LUX + (t >= HEADLIGHTS.at && t < HEADLIGHTS.at + HEADLIGHTS.ms ? HEADLIGHTS.lux : 0);
  if (t < DAWN.to) return ramp(t, DAWN.from, DAWN.to, NIGHT_LUX, DAY_LUX);
  return DAY_LUX;
}

export function noisy(seed: number): (t: number) => number {
  return (t) => {
    const r = mulberry32((seed * 7919) ^ Math.floor(t / 500));
    const v = ambient(t) * (1 + 0.3 * (r() - 0.5)) + 2 * (r() - 0.5);
    return Math.max(0, v);
  };
}

/** When the noise-free curve crosses `lux` going down (dusk) and up (dawn). */
export function crossing(lux: number): { dusk: number; dawn: number } {
  const f = (a: number, b: number, from: number, to: number) => from + ((to - from) * Math.log(lux / a)) / Math.log(b / a);
  return { dusk: f(DAY_LUX, NIGHT_LUX, DUSK.from, DUSK.to), dawn: f(NIGHT_LUX, DAY_LUX, DAWN.from, DAWN.to) };
}
