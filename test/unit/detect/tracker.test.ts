import { describe, expect, it } from 'vitest';
import { EpisodeTracker, type EpisodeEvent, type TrackerOptions } from '../../../src/detect/tracker.js';
import type { Box, ObjectDetection } from '../../../src/detect/types.js';

const WHOLE: Box = { x: 0, y: 0, w: 1, h: 1 };

function tracker(over: Partial<TrackerOptions> = {}): EpisodeTracker {
  let n = 0;
  return new EpisodeTracker({
    lens: 'wide',
    confirmHits: { human: 2, vehicle: 2, change: 2 },
    lostAfterMs: 3000,
    cooldownMs: 30_000,
    updateEveryMs: 5000,
    newId: () => `ep${++n}`,
    ...over,
  });
}

const person = (x: number, score = 0.8): ObjectDetection => ({ cls: 'human', score, box: { x, y: 0.3, w: 0.1, h: 0.4 } });

/** A person walking left to right, one inference every 200 ms; `seen(i)` says whether the detector found them. */
function walk(t: EpisodeTracker, t0: number, steps: number, seen: (i: number) => boolean): EpisodeEvent[] {
  const ev: EpisodeEvent[] = [];
  for (let i = 0; i < steps; i++) {
    const ts = t0 + i * 200;
    ev.push(...t.tick(ts));
    ev.push(...t.observeObjects(ts, seen(i) ? [person(0.05 + i * 0.01)] : [], [WHOLE]));
  }
  return ev;
}

describe('episode tracker', () => {
  it('starts an episode only after consecutive confirmations', () => {
    const t = tracker();
    expect(t.observeObjects(0, [person(0.1)], [WHOLE])).toEqual([]);
    const ev = t.observeObjects(200, [person(0.11)], [WHOLE]);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ phase: 'start', type: 'human', lens: 'wide', id: 'ep1', alert: true, objects: 1, ts: 200, startedAt: 200 });
  });

  it('a look that misses a candidate discards it; a candidate outside the crops survives', () => {
    const t = tracker();
    t.observeObjects(0, [person(0.1)], [WHOLE]);
    t.observeObjects(200, [], [WHOLE]);
    expect(t.observeObjects(400, [person(0.1)], [WHOLE])).toEqual([]); // counting starts again
    const elsewhere: Box = { x: 0.6, y: 0, w: 0.4, h: 1 };
    t.observeObjects(600, [], [elsewhere]); // did not look at it: no evidence either way
    expect(t.observeObjects(800, [person(0.1)], [WHOLE])).toHaveLength(1);
  });

  it('one person walking by with short detection dropouts is one episode: start, updates, one end', () => {
    const t = tracker();
    // 20 s walk, the detector misses every 4th look and once 2 s in a row.
    const ev = walk(t, 0, 100, (i) => i % 4 !== 3 && !(i >= 50 && i < 60));
    ev.push(...t.tick(20_000 + 3500));
    expect(ev.filter((e) => e.phase === 'start')).toHaveLength(1);
    expect(ev.filter((e) => e.phase === 'end')).toHaveLength(1);
    expect(ev.filter((e) => e.phase === 'update').length).toBeGreaterThanOrEqual(2);
    expect(new Set(ev.map((e) => e.id)).size).toBe(1);
    const end = ev.at(-1)!;
    expect(end.phase).toBe('end');
    expect(end.lastSeen).toBe(98 * 200); // look 99 is one of the misses
    expect(end.objects).toBe(1);
  });

  it('a gap longer than lostAfter splits episodes; the second start within the cooldown does not alert', () => {
    const t = tracker();
    const first = walk(t, 0, 20, () => true);
    const gap = t.tick(4000 + 3200);
    expect(gap.map((e) => e.phase)).toEqual(['end']);
    const second = walk(t, 10_000, 20, () => true);
    const starts = [...first, ...second].filter((e) => e.phase === 'start');
    expect(starts.map((s) => s.alert)).toEqual([true, false]);
    expect(starts[0]!.id).not.toBe(starts[1]!.id);
    t.tick(14_000 + 3200);
    const third = walk(t, 40_000, 5, () => true);
    expect(third.find((e) => e.phase === 'start')?.alert).toBe(true); // 40 s after the last alert
  });

  it('a second person joining an open episode is counted and reported as an update', () => {
    const t = tracker();
    walk(t, 0, 5, () => true);
    const other = (): ObjectDetection[] => [person(0.1), { cls: 'human', score: 0.9, box: { x: 0.7, y: 0.2, w: 0.1, h: 0.5 } }];
    t.observeObjects(1000, other(), [WHOLE]);
    const ev = t.observeObjects(1200, other(), [WHOLE]);
    expect(ev.some((e) => e.phase === 'update' && e.objects === 2)).toBe(true);
  });

  it('keeps human and vehicle episodes apart', () => {
    const t = tracker();
    const car = (x: number): ObjectDetection => ({ cls: 'vehicle', score: 0.7, box: { x, y: 0.6, w: 0.3, h: 0.2 } });
    t.observeObjects(0, [person(0.1), car(0.5)], [WHOLE]);
    const ev = t.observeObjects(200, [person(0.1), car(0.5)], [WHOLE]);
    expect(ev.map((e) => e.type).sort()).toEqual(['human', 'vehicle']);
    expect(new Set(ev.map((e) => e.id)).size).toBe(2);
  });

  it('image change: confirmed by consecutive changed frames, ended after lostAfter', () => {
    const t = tracker({ confirmHits: { human: 2, vehicle: 2, change: 3 } });
    const box: Box = { x: 0.2, y: 0.2, w: 0.1, h: 0.1 };
    expect(t.observeChange(0, box, 0.01)).toEqual([]);
    expect(t.observeChange(100, null, 0)).toEqual([]);
    expect(t.observeChange(200, box, 0.01)).toEqual([]);
    expect(t.observeChange(300, box, 0.01)).toEqual([]);
    expect(t.observeChange(400, box, 0.02)[0]).toMatchObject({ phase: 'start', type: 'change' });
    expect(t.tick(3400)).toEqual([]);
    expect(t.tick(3401)[0]).toMatchObject({ phase: 'end', type: 'change', lastSeen: 400, score: 0.02 });
  });

  it('finish() ends every open episode', () => {
    const t = tracker();
    walk(t, 0, 5, () => true);
    t.observeChange(0, WHOLE, 1);
    t.observeChange(100, WHOLE, 1);
    const ev = t.finish(2000);
    expect(ev.map((e) => `${e.type}:${e.phase}`).sort()).toEqual(['change:end', 'human:end']);
    expect(t.activeBoxes()).toEqual([]);
  });
});
