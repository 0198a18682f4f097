import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/core/prng.js';
import { DayNightDecider, type Thresholds } from '../../../src/daynight/decide.js';
import type { Phase } from '../../../src/daynight/types.js';
import { crossing, END, MIN, noisy, SPOTLIGHT } from './evening.js';

const TH: Thresholds = { nightBelowLux: 8, dayAboveLux: 40, minDwellMs: 60_000 };
const PERIOD = 2000;

interface Switch {
  t: number;
  to: Phase;
}

/** Runs the decider over a light curve sampled every 2 s, switching whenever it says so. */
function run(curve: (t: number) => number, opts: { from?: number; to?: number; start?: Phase; blind?: (t: number) => boolean } = {}): Switch[] {
  const d = new DayNightDecider(TH);
  d.switched(opts.start ?? 'day', -Infinity);
  const out: Switch[] = [];
  for (let t = opts.from ?? 0; t <= (opts.to ?? END); t += PERIOD) {
    if (opts.blind?.(t)) {
      d.forget();
      continue;
    }
    const want = d.sample(t, curve(t));
    if (want) {
      d.switched(want, t);
      out.push({ t, to: want });
    }
  }
  return out;
}

/** The same samples through one threshold and nothing else: what the decider's guards prevent. */
function naive(curve: (t: number) => number, threshold: number): number {
  let night = false;
  let n = 0;
  for (let t = 0; t <= END; t += PERIOD) {
    const now = curve(t) < threshold;
    if (now !== night) n++;
    night = now;
  }
  return n;
}

describe('day/night decision over a scripted evening', () => {
  it('switches exactly once each way per evening over 50 noisy evenings (headlights at night; spotlight readings dropped)', () => {
    // The service drops readings while its own spotlight is on and 3 s after (service.ts).
    const blind = (t: number) => t >= SPOTLIGHT.at && t < SPOTLIGHT.at + SPOTLIGHT.ms + 3000;
    const { dusk, dawn } = crossing(TH.nightBelowLux);
    const up = crossing(TH.dayAboveLux).dawn;
    let naiveFlips = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const curve = noisy(seed);
      const s = run(curve, { blind });
      expect(s.map((x) => x.to), `seed ${seed}`).toEqual(['night', 'day']);
      // Night comes one dwell (plus the median's and the noise's lag) after dusk crosses N.
      expect(s[0]!.t).toBeGreaterThan(dusk + TH.minDwellMs - 3 * MIN);
      expect(s[0]!.t).toBeLessThan(dusk + TH.minDwellMs + 3 * MIN);
      expect(s[1]!.t).toBeGreaterThan(up + TH.minDwellMs - 3 * MIN);
      expect(s[1]!.t).toBeLessThan(up + TH.minDwellMs + 3 * MIN);
      expect(dawn).toBeLessThan(up);
      naiveFlips += naive(curve, TH.nightBelowLux);
    }
    // The noise is hard enough to matter: one bare threshold flips many times per evening.
    expect(naiveFlips / 50).toBeGreaterThan(4);
  });

  it('dusk hovering around the night threshold for half an hour switches once, not back and forth', () => {
    // 8 lx ± 6 for 30 min (a cloud bank at sunset), a new value every 500 ms, then dark.
    const curve = (t: number) => (t < 30 * MIN ? 2 + 12 * mulberry32(Math.floor(t / 500))() : 0.5);
    const s = run(curve, { to: 60 * MIN });
    expect(s.length).toBe(1);
    expect(s[0]!.to).toBe('night');
    // Hard enough that one bare threshold would flap all along.
    expect(naive(curve, TH.nightBelowLux)).toBeGreaterThan(100);
  });

  it('a light at night shorter than the dwell does not switch; one that stays past it does', () => {
    const spike = (ms: number) => (t: number) => (t >= 10 * MIN && t < 10 * MIN + ms ? 200 : 0.5);
    expect(run(spike(5000), { start: 'night', to: 20 * MIN })).toEqual([]);
    expect(run(spike(50_000), { start: 'night', to: 20 * MIN })).toEqual([]);
    const long = run(spike(90_000), { start: 'night', to: 20 * MIN });
    expect(long.map((x) => x.to)).toEqual(['day', 'night']);
    // The dwell: the filtered reading (median of 5, i.e. 3 samples in) must stay above M for 60 s.
    expect(long[0]!.t - 10 * MIN).toBeGreaterThanOrEqual(60_000);
    expect(long[0]!.t - 10 * MIN).toBeLessThanOrEqual(60_000 + 3 * PERIOD);
  });

  it('never switches twice within the dwell, even when the light says so', () => {
    const d = new DayNightDecider({ ...TH, minDwellMs: 60_000 });
    d.switched('night', 0);
    // Light from the start: pending since 0, but the last switch was at 0 too.
    for (let t = 0; t < 60_000; t += PERIOD) expect(d.sample(t, 500)).toBeUndefined();
    expect(d.sample(60_000, 500)).toBe('day');
  });

  it('the IR illuminator leak at night (a few lx) stays inside the band', () => {
    expect(run(() => 0.5 + 12, { start: 'night', to: 30 * MIN })).toEqual([]);
  });

  it('a fresh reading decides at once: below N night, above M day, in the band the known phase or the nearer threshold', () => {
    const d = new DayNightDecider(TH);
    expect(d.fresh(3)).toBe('night');
    expect(d.fresh(100)).toBe('day');
    expect(d.fresh(20)).toBe('night');
    expect(d.fresh(30)).toBe('day');
    d.switched('night', 0);
    expect(d.fresh(30)).toBe('night');
  });

  it('forget() restarts a pending switch from the next reading', () => {
    const d = new DayNightDecider(TH);
    d.switched('day', -Infinity);
    for (let t = 0; t < 50_000; t += PERIOD) d.sample(t, 1);
    d.forget();
    // 50 s of dark forgotten: another full dwell is needed.
    for (let t = 50_000; t < 110_000; t += PERIOD) expect(d.sample(t, 1)).toBeUndefined();
    expect(d.sample(110_000, 1)).toBe('night');
  });
});
