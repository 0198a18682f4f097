import { describe, expect, it } from 'vitest';
import { BACKGROUNDS, buildClipSet, crossing, CUTOUTS, mergeRanges, OUT_FPS, OUT_W, truthOf, visibleRange, walkAndStop } from '../../../src/detect/clipset.js';
import { loopTruth, scoreClass, summarize, type ClassScore, type Range, type ScoredEpisode } from '../../../src/detect/truth.js';
import type { DetectionType } from '../../../src/detect/types.js';

/** An episode seen from `start` to `end`, its start event `confirm` s after the first sighting. */
const ep = (start: number, end: number, confirm = 0.4, type: DetectionType = 'human'): ScoredEpisode => ({ type, start, end, startEvent: start + confirm });

describe('event scoring (truth.ts)', () => {
  const ranges: Range[] = [[10, 20], [30, 40]];

  it('one episode per range: precision and recall 1, no split, delay = start event − first labelled frame', () => {
    const s = scoreClass([ep(10.6, 19.8, 0.4), ep(31, 39, 1)], ranges);
    expect(s).toMatchObject({ ranges: 2, episodes: 2, matchedRanges: 2, matchedEpisodes: 2, falseEpisodes: 0, splits: 0, merges: 0, precision: 1, recall: 1 });
    expect(s.delaysS[0]).toBeCloseTo(1.0, 6);
    expect(s.delaysS[1]).toBeCloseTo(2.0, 6);
    expect(s.meanDelayS).toBeCloseTo(1.5, 6);
    expect(s.maxDelayS).toBeCloseTo(2.0, 6);
  });

  it('counts a range covered by three episodes as two splits, and measures the delay from the earliest', () => {
    const s = scoreClass([ep(15, 16), ep(11, 13), ep(17.5, 20)], [[10, 20]]);
    expect(s.splits).toBe(2);
    expect(s.episodes).toBe(3);
    expect(s.precision).toBe(1);
    expect(s.recall).toBe(1);
    expect(s.delaysS).toHaveLength(1);
    expect(s.delaysS[0]).toBeCloseTo(1.4, 6);
  });

  it('an episode spanning two ranges is a merge, not a split; a missed range lowers recall', () => {
    const s = scoreClass([ep(12, 35)], [[10, 20], [30, 40], [50, 60]]);
    expect(s.merges).toBe(1);
    expect(s.splits).toBe(0);
    expect(s.matchedRanges).toBe(2);
    expect(s.recall).toBeCloseTo(2 / 3, 6);
    expect(s.precision).toBe(1);
    // the merged-into range had no alert of its own: no delay for it
    expect(s.delaysS).toHaveLength(1);
    expect(s.delaysS[0]).toBeCloseTo(2.4, 6);
    // … even when a later episode splits it: the alert was already running
    const later = scoreClass([ep(12, 33), ep(36, 39)], [[10, 20], [30, 40]]);
    expect(later.splits).toBe(1);
    expect(later.delaysS).toHaveLength(1);
  });

  it('episodes away from every range are false; the tolerance (1 s) decides at the edge', () => {
    const s = scoreClass([ep(20.8, 22), ep(22.5, 24), ep(45, 46)], ranges);
    expect(s.matchedEpisodes).toBe(1); // 20.8 is within 1 s of 20, 22.5 is not
    expect(s.falseEpisodes).toBe(2);
    expect(s.precision).toBeCloseTo(1 / 3, 6);
    expect(s.recall).toBe(0.5);
    expect(scoreClass([ep(22.5, 24)], ranges, 3).falseEpisodes).toBe(0);
  });

  it('nothing labelled and nothing found: no ratio at all (not 100 %, not 0 %)', () => {
    const s = scoreClass([], []);
    expect(s.precision).toBeNull();
    expect(s.recall).toBeNull();
    expect(s.meanDelayS).toBeNull();
    const miss = scoreClass([], ranges);
    expect(miss.recall).toBe(0);
    expect(miss.precision).toBeNull();
  });

  it('loopTruth repeats the ranges once per pass, offset by the pass length', () => {
    const t = loopTruth({ durationSec: 50, human: [[10, 20]], vehicle: [], motion: [[9, 21]] }, 3, 50);
    expect(t.human).toEqual([[10, 20], [60, 70], [110, 120]]);
    expect(t.motion).toHaveLength(3);
    expect(t.durationSec).toBe(150);
  });

  it('summarize pools episodes and ranges over clips', () => {
    const score = (human: Omit<ClassScore, 'perInference'>): Record<DetectionType, ClassScore> => {
      const none = { ...scoreClass([], []), perInference: null };
      return { human: { ...human, perInference: null }, vehicle: none, change: none };
    };
    const a = score(scoreClass([ep(10, 20, 1)], [[10, 20]]));
    const b = score(scoreClass([ep(11, 12, 1), ep(14, 19, 1), ep(50, 51)], [[10, 20], [30, 40]]));
    const s = summarize([a, b]).human;
    expect(s).toMatchObject({ clips: 2, ranges: 3, episodes: 4, matchedRanges: 2, matchedEpisodes: 3, falseEpisodes: 1, splits: 1 });
    expect(s.precision).toBeCloseTo(3 / 4, 6);
    expect(s.recall).toBeCloseTo(2 / 3, 6);
    expect(s.meanDelayS).toBeCloseTo(1.5, 6); // delays 1 and 2
    expect(s.medianDelayS).toBeCloseTo(1.5, 6);
    expect(summarize([a, b]).vehicle.precision).toBeNull();
  });
});

describe('generated clip set (clipset.ts)', () => {
  it('the truth of a crossing is the time any pixel of the object is in the picture', () => {
    const p = crossing(CUTOUTS.person, { heightFrac: 0.5, speedPxS: 100, t0: 1, bottom: 1 });
    const r = visibleRange(p, 20)!;
    const w = -p.x0; // enters from fully outside the left edge
    expect(r[0]).toBeGreaterThan(1);
    expect(r[0]).toBeLessThanOrEqual(1 + 1 / OUT_FPS + 0.01);
    // leaves when its left edge passes the right edge: t0 + (w + OUT_W) / speed
    const gone = 1 + (w + OUT_W) / 100;
    expect(r[1]).toBeLessThan(gone);
    expect(r[1]).toBeGreaterThan(gone - 1 / OUT_FPS - 0.02);
    expect(visibleRange({ ...p, t0: 30, t1: 40 }, 20)).toBeNull();
  });

  it('merges overlapping ranges, keeps separate ones', () => {
    expect(mergeRanges([[5, 6], [1, 3], [2.5, 4], [4.07, 4.5]])).toEqual([[1, 4.5], [5, 6]]);
  });

  it('a walk with a stop is one range (its three pieces meet on a frame)', () => {
    for (const stopAt of [0.3, 0.41, 0.47, 0.55]) {
      const spec = { name: 'x', set: 'tune' as const, background: BACKGROUNDS.room, durationSec: 20, effect: 'none' as const, objects: walkAndStop(CUTOUTS.person, { heightFrac: 0.5, speedPxS: 113, t0: 0.5, bottom: 1, stopAt, stopSec: 7 }) };
      expect(truthOf(spec, null).human).toHaveLength(1);
    }
  });

  it('derives human, vehicle and motion from the placements, and merges a background clip\'s hand labels', () => {
    const specs = buildClipSet(12);
    const truck = specs.find((s) => s.name === 'tune-eagle-truck+person')!;
    const t = truthOf(truck, null);
    expect(t.human).toHaveLength(1);
    expect(t.vehicle).toHaveLength(1);
    expect(t.motion.length).toBeGreaterThanOrEqual(1);
    const road = specs.find((s) => s.name === 'heldout-road-person-mirrored')!;
    const hand = { method: '', policy: {}, stills: {}, clips: { 'car-detection.mp4': { durationSec: 30, human: [], vehicle: [[4.5, 8.3] as Range], motion: [[4.5, 8.3] as Range] } } };
    expect(truthOf(road, hand).vehicle).toEqual([[4.5, 8.3]]);
    expect(() => truthOf(road, null)).toThrow(/hand labels/);
    expect(truthOf(specs.find((s) => s.name === 'tune-room-lighting')!, null)).toMatchObject({ human: [], vehicle: [], motion: [] });
  });

  it('is reproducible from the seed, and tune and held-out share no background', () => {
    expect(buildClipSet(7)).toEqual(buildClipSet(7));
    expect(buildClipSet(7)).not.toEqual(buildClipSet(8));
    const specs = buildClipSet(12);
    const bg = (set: string): Set<string> => new Set(specs.filter((s) => s.set === set).map((s) => s.background.name));
    const tune = bg('tune');
    for (const b of bg('heldout')) expect(tune.has(b)).toBe(false);
    const objs = (set: string): Set<string> => new Set(specs.filter((s) => s.set === set).flatMap((s) => s.objects.map((o) => o.cutout.name)));
    for (const o of objs('heldout')) expect(objs('tune').has(o)).toBe(false);
    expect(new Set(specs.map((s) => s.name)).size).toBe(specs.length);
  });
});
