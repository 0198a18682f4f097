import { describe, expect, it } from 'vitest';
import { changeThresholds, objectThresholds, SCORE_FLOOR } from '../../../src/detect/sensitivity.js';
import { EpisodeTracker } from '../../../src/detect/tracker.js';
import type { Box } from '../../../src/detect/types.js';

const WHOLE: Box = { x: 0, y: 0, w: 1, h: 1 };
const BOX: Box = { x: 0.4, y: 0.3, w: 0.1, h: 0.4 };

const levels = Array.from({ length: 100 }, (_, i) => i + 1);

describe('sensitivity mapping', () => {
  it('higher sensitivity never raises an object threshold (false alarms → lower it)', () => {
    for (const cls of ['human', 'vehicle'] as const) {
      for (let i = 1; i < levels.length; i++) {
        const lo = objectThresholds(cls, levels[i - 1]!);
        const hi = objectThresholds(cls, levels[i]!);
        expect(hi.score).toBeLessThanOrEqual(lo.score);
        expect(hi.keepScore).toBeLessThanOrEqual(lo.keepScore);
        expect(hi.confirm.k).toBeLessThanOrEqual(lo.confirm.k);
      }
    }
  });

  it('strictly separates the ends and puts 50 at the model author\'s default 0.65', () => {
    expect(objectThresholds('human', 1).score).toBeGreaterThan(objectThresholds('human', 100).score);
    expect(objectThresholds('human', 1).confirm.k).toBeGreaterThan(objectThresholds('human', 100).confirm.k);
    expect(objectThresholds('human', 50)).toMatchObject({ keepScore: 0.5, confirm: { k: 2, n: 4 } });
    expect(objectThresholds('human', 50).score).toBeCloseTo(0.65, 2);
  });

  it('higher sensitivity never raises an image-change threshold', () => {
    for (let i = 1; i < levels.length; i++) {
      const lo = changeThresholds(levels[i - 1]!);
      const hi = changeThresholds(levels[i]!);
      expect(hi.pixelDiff).toBeLessThanOrEqual(lo.pixelDiff);
      expect(hi.minAreaFraction).toBeLessThanOrEqual(lo.minAreaFraction);
      expect(hi.confirm.k).toBeLessThanOrEqual(lo.confirm.k);
    }
    expect(changeThresholds(100).minAreaFraction).toBeLessThan(changeThresholds(1).minAreaFraction);
  });

  it('k of n: a sequence of looks one sensitivity confirms, every higher one confirms too (random looks)', () => {
    // Each look: the person's score, or null for a miss. Replayed through the tracker at every level.
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const confirmsAt = (s: number, looks: ReadonlyArray<number | null>): boolean => {
      const th = objectThresholds('human', s);
      const t = new EpisodeTracker({
        lens: 'wide', confirm: { human: th.confirm, vehicle: th.confirm, change: { k: 1, n: 1 } },
        lostAfterMs: 60_000, holdMaxMs: 60_000, cooldownMs: 0, updateEveryMs: 5000, newId: () => 'e',
      });
      return looks.some((score, i) => {
        const dets = score !== null && score >= th.keepScore ? [{ cls: 'human' as const, score, box: BOX, strong: score >= th.score }] : [];
        return t.observeObjects(i * 200, dets, [WHOLE]).some((e) => e.phase === 'start');
      });
    };
    let checked = 0;
    for (let trial = 0; trial < 300; trial++) {
      const looks = Array.from({ length: 8 }, () => (rnd() < 0.35 ? null : 0.45 + rnd() * 0.4));
      let before = false;
      for (const s of [1, 10, 20, 21, 30, 40, 41, 50, 60, 80, 81, 90, 100]) {
        const now = confirmsAt(s, looks);
        if (before) expect(now, `level ${s}, looks ${looks.map((l) => l?.toFixed(2) ?? '-').join(' ')}`).toBe(true);
        before = now;
        checked++;
      }
    }
    expect(checked).toBe(300 * 13);
  });

  it('the decoder floor is the lowest threshold any setting uses, and out-of-range input is clamped', () => {
    expect(SCORE_FLOOR).toBe(objectThresholds('human', 100).score);
    expect(objectThresholds('human', 0)).toEqual(objectThresholds('human', 1));
    expect(objectThresholds('human', 1000)).toEqual(objectThresholds('human', 100));
  });
});
