import { describe, expect, it } from 'vitest';
import { changeThresholds, objectThresholds, SCORE_FLOOR } from '../../../src/detect/sensitivity.js';

const levels = Array.from({ length: 100 }, (_, i) => i + 1);

describe('sensitivity mapping', () => {
  it('higher sensitivity never raises an object threshold (false alarms → lower it)', () => {
    for (const cls of ['human', 'vehicle'] as const) {
      for (let i = 1; i < levels.length; i++) {
        const lo = objectThresholds(cls, levels[i - 1]!);
        const hi = objectThresholds(cls, levels[i]!);
        expect(hi.score).toBeLessThanOrEqual(lo.score);
        expect(hi.confirmHits).toBeLessThanOrEqual(lo.confirmHits);
      }
    }
  });

  it('strictly separates the ends and puts 50 at the model author\'s default 0.65', () => {
    expect(objectThresholds('human', 1).score).toBeGreaterThan(objectThresholds('human', 100).score);
    expect(objectThresholds('human', 1).confirmHits).toBeGreaterThan(objectThresholds('human', 100).confirmHits);
    expect(objectThresholds('human', 50).score).toBeCloseTo(0.65, 2);
  });

  it('higher sensitivity never raises an image-change threshold', () => {
    for (let i = 1; i < levels.length; i++) {
      const lo = changeThresholds(levels[i - 1]!);
      const hi = changeThresholds(levels[i]!);
      expect(hi.pixelDiff).toBeLessThanOrEqual(lo.pixelDiff);
      expect(hi.minAreaFraction).toBeLessThanOrEqual(lo.minAreaFraction);
      expect(hi.confirmFrames).toBeLessThanOrEqual(lo.confirmFrames);
    }
    expect(changeThresholds(100).minAreaFraction).toBeLessThan(changeThresholds(1).minAreaFraction);
  });

  it('the decoder floor is the lowest threshold any setting uses, and out-of-range input is clamped', () => {
    expect(SCORE_FLOOR).toBe(objectThresholds('human', 100).score);
    expect(objectThresholds('human', 0)).toEqual(objectThresholds('human', 1));
    expect(objectThresholds('human', 1000)).toEqual(objectThresholds('human', 100));
  });
});
