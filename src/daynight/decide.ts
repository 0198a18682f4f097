import type { Phase } from './types.js';

export interface Thresholds {
  /** Night when the filtered reading stays below this. */
  nightBelowLux: number;
  /** Day when it stays above this; > nightBelowLux (the band between is hysteresis). */
  dayAboveLux: number;
  /** How long a reading must stay past a threshold, and the least time between two switches. */
  minDwellMs: number;
}

/** Readings in the median window: at a 2 s period, 10 s — one car passing moves it by at most half. */
const MEDIAN_WINDOW = 5;

/**
 * The day/night decision, pure (no clock, no I/O) so a whole evening runs in a unit test.
 *
 * Three guards against flapping, each for its own cause:
 * - a median of the last MEDIAN_WINDOW readings: single noisy readings (sensor noise, a moth on
 *   the window) do not count at all;
 * - hysteresis (night below N, day above M > N): dusk hovering around one level never crosses
 *   both thresholds, and the IR illuminator's own visible leak at night stays inside the band;
 * - persistence: the filtered reading must stay past the threshold for `minDwellMs` without a
 *   break (headlights for a few seconds reset nothing but their own pending count), and a
 *   switch never follows the previous one within `minDwellMs`.
 */
export class DayNightDecider {
  private window: number[] = [];
  private pendingSince: number | undefined;
  private phase: Phase | undefined;
  private switchedAt = -Infinity;

  constructor(private th: Thresholds) {}

  get current(): Phase | undefined {
    return this.phase;
  }

  setThresholds(th: Thresholds): void {
    this.th = th;
    this.pendingSince = undefined;
  }

  /**
   * A reading at `t`; returns the phase to switch to when it is time, else undefined. The caller
   * switches and then calls `switched` (a failed switch is not recorded, so it is tried again).
   */
  sample(t: number, lux: number): Phase | undefined {
    this.window.push(lux);
    if (this.window.length > MEDIAN_WINDOW) this.window.shift();
    const m = medianOf(this.window);
    const want = this.phase === 'night' ? (m > this.th.dayAboveLux ? 'day' : undefined) : this.phase === 'day' ? (m < this.th.nightBelowLux ? 'night' : undefined) : undefined;
    if (!want) {
      this.pendingSince = undefined;
      return undefined;
    }
    this.pendingSince ??= t;
    if (t - this.pendingSince < this.th.minDwellMs || t - this.switchedAt < this.th.minDwellMs) return undefined;
    return want;
  }

  /** The phase for one fresh reading when there is no trusted history (boot, wake, back to auto). */
  fresh(lux: number): Phase {
    if (lux < this.th.nightBelowLux) return 'night';
    if (lux > this.th.dayAboveLux) return 'day';
    // Inside the band: keep what the filter is known to be, else the nearer threshold.
    return this.phase ?? (lux < (this.th.nightBelowLux + this.th.dayAboveLux) / 2 ? 'night' : 'day');
  }

  switched(phase: Phase, t: number): void {
    this.phase = phase;
    this.switchedAt = t;
    this.pendingSince = undefined;
  }

  /**
   * Forget the readings: the camera's own light is (or was just) on them, or they are stale
   * (sleep). Pending switches restart from the next trusted reading.
   */
  forget(): void {
    this.window = [];
    this.pendingSince = undefined;
  }
}

function medianOf(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
