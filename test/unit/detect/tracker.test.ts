import { describe, expect, it } from 'vitest';
import { EpisodeTracker, type EpisodeEvent, type TrackedDetection, type TrackerOptions } from '../../../src/detect/tracker.js';
import type { Box } from '../../../src/detect/types.js';

const WHOLE: Box = { x: 0, y: 0, w: 1, h: 1 };

function tracker(over: Partial<TrackerOptions> = {}): EpisodeTracker {
  let n = 0;
  return new EpisodeTracker({
    lens: 'wide',
    confirm: { human: { k: 2, n: 4 }, vehicle: { k: 2, n: 4 }, change: { k: 2, n: 3 } },
    lostAfterMs: 3000,
    holdMaxMs: 9000,
    cooldownMs: 30_000,
    updateEveryMs: 5000,
    newId: () => `ep${++n}`,
    ...over,
  });
}

const person = (x: number, score = 0.8, strong = true): TrackedDetection => ({ cls: 'human', score, box: { x, y: 0.3, w: 0.1, h: 0.4 }, strong });

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
  it('starts an episode only after k strong hits', () => {
    const t = tracker();
    expect(t.observeObjects(0, [person(0.1)], [WHOLE])).toEqual([]);
    const ev = t.observeObjects(200, [person(0.11)], [WHOLE]);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ phase: 'start', type: 'human', lens: 'wide', id: 'ep1', alert: true, objects: 1, ts: 200, startedAt: 200 });
  });

  it('k of n: a miss between two hits still confirms; three misses in a row drop the candidate', () => {
    const t = tracker();
    t.observeObjects(0, [person(0.1)], [WHOLE]);
    t.observeObjects(200, [], [WHOLE]);
    expect(t.observeObjects(400, [person(0.1)], [WHOLE])[0]).toMatchObject({ phase: 'start', ts: 400 });

    const u = tracker();
    u.observeObjects(0, [person(0.1)], [WHOLE]);
    for (const ts of [200, 400, 600]) u.observeObjects(ts, [], [WHOLE]);
    expect(u.activeBoxes()).toEqual([]);
    expect(u.observeObjects(800, [person(0.1)], [WHOLE])).toEqual([]); // counting starts again
  });

  it('a candidate outside the crops gets no look: no evidence either way', () => {
    const t = tracker({ confirm: { human: { k: 2, n: 2 }, vehicle: { k: 2, n: 2 }, change: { k: 2, n: 3 } } });
    t.observeObjects(0, [person(0.1)], [WHOLE]);
    const elsewhere: Box = { x: 0.6, y: 0, w: 0.4, h: 1 };
    for (const ts of [200, 400, 600]) t.observeObjects(ts, [], [elsewhere]);
    expect(t.observeObjects(800, [person(0.1)], [WHOLE])).toHaveLength(1);
  });

  it('scores alternating around the threshold confirm: weak looks are neither hits nor misses', () => {
    // The small person at sensitivity 50 (threshold 0.65, keep 0.50): 0.65, 0.74, 0.50, 0.69, 0.57 …
    const t = tracker({ confirm: { human: { k: 2, n: 2 }, vehicle: { k: 2, n: 2 }, change: { k: 2, n: 3 } } });
    const seq = [0.64, 0.5, 0.74, 0.5, 0.69, 0.57];
    const ev = seq.flatMap((score, i) => t.observeObjects(i * 200, [person(0.1 + i * 0.005, score, score >= 0.65)], [WHOLE]));
    expect(ev.filter((e) => e.phase === 'start')).toHaveLength(1);
    expect(ev[0]!.ts).toBe(800);
  });

  it('weak detections never start anything', () => {
    const t = tracker({ confirm: { human: { k: 1, n: 1 }, vehicle: { k: 1, n: 1 }, change: { k: 1, n: 1 } } });
    for (let i = 0; i < 20; i++) expect(t.observeObjects(i * 200, [person(0.1, 0.55, false)], [WHOLE])).toEqual([]);
    expect(t.activeBoxes()).toEqual([]);
  });

  it('weak hits hold a confirmed object past lostAfter, but not forever without a strong one', () => {
    const t = tracker();
    walk(t, 0, 3, () => true); // confirmed at 200
    const ev: EpisodeEvent[] = [];
    for (let i = 3; i < 40; i++) {
      const ts = i * 200;
      ev.push(...t.tick(ts), ...t.observeObjects(ts, [person(0.1 + i * 0.005, 0.55, false)], [WHOLE]));
    }
    expect(ev.filter((e) => e.phase === 'end')).toEqual([]); // 7.8 s on weak hits alone
  });

  it('re-finding a person after missed looks is the same object: the gate grows with the time unseen', () => {
    const t = tracker();
    const ev = walk(t, 0, 10, () => true); // 0.05 → 0.14, 0.05/s
    // 2.4 s unseen (within lostAfter); the person walked on and is found 0.2 further on.
    ev.push(...t.tick(4200), ...t.observeObjects(4200, [person(0.34)], [WHOLE]), ...t.observeObjects(4400, [person(0.35)], [WHOLE]));
    ev.push(...t.tick(4400 + 3100));
    expect(ev.filter((e) => e.phase === 'start')).toHaveLength(1);
    expect(ev.find((e) => e.phase === 'end')?.objects).toBe(1);
  });

  it('image change around a confirmed object holds its episode through a long miss, bounded by holdMax', () => {
    const t = tracker();
    walk(t, 0, 5, () => true); // last hit at 800, box around x 0.09
    const near: Box = { x: 0.08, y: 0.35, w: 0.1, h: 0.3 };
    const far: Box = { x: 0.8, y: 0.1, w: 0.1, h: 0.1 };
    const ends = (from: number, to: number, region: Box): EpisodeEvent[] => {
      const out: EpisodeEvent[] = [];
      for (let ts = from; ts <= to; ts += 200) {
        t.observeMotion(ts, [region]);
        out.push(...t.tick(ts));
      }
      return out;
    };
    expect(ends(1000, 6000, near)).toEqual([]); // 5 s with no hit: held by the motion around it
    const until = ends(6200, 12_000, near);
    expect(until.map((e) => e.phase)).toEqual(['end']); // 9 s after the last strong hit at most
    expect(until[0]!.ts).toBeGreaterThan(800 + 9000);

    const u = tracker();
    walk(u, 0, 5, () => true);
    const out: EpisodeEvent[] = [];
    for (let ts = 1000; ts <= 4000; ts += 200) {
      u.observeMotion(ts, [far]); // change elsewhere holds nothing
      out.push(...u.tick(ts));
    }
    expect(out.map((e) => e.phase)).toEqual(['end']);
  });

  it('never two events of one episode at one instant; one event per type per observation', () => {
    const t = tracker();
    walk(t, 0, 3, () => true);
    const two = (): TrackedDetection[] => [person(0.75), { cls: 'human', score: 0.9, box: { x: 0.9, y: 0.2, w: 0.1, h: 0.5 }, strong: true }];
    t.observeObjects(1000, two(), [WHOLE]);
    const ev = t.observeObjects(1200, two(), [WHOLE]); // both newcomers confirm at once
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ phase: 'update', objects: 3 });
    expect(t.observeObjects(1200, two(), [WHOLE])).toEqual([]);
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
    const other = (): TrackedDetection[] => [person(0.1), { cls: 'human', score: 0.9, box: { x: 0.7, y: 0.2, w: 0.1, h: 0.5 }, strong: true }];
    t.observeObjects(1000, other(), [WHOLE]);
    const ev = t.observeObjects(1200, other(), [WHOLE]);
    expect(ev.some((e) => e.phase === 'update' && e.objects === 2)).toBe(true);
  });

  it('keeps human and vehicle episodes apart', () => {
    const t = tracker();
    const car = (x: number): TrackedDetection => ({ cls: 'vehicle', score: 0.7, box: { x, y: 0.6, w: 0.3, h: 0.2 }, strong: true });
    t.observeObjects(0, [person(0.1), car(0.5)], [WHOLE]);
    const ev = t.observeObjects(200, [person(0.1), car(0.5)], [WHOLE]);
    expect(ev.map((e) => e.type).sort()).toEqual(['human', 'vehicle']);
    expect(new Set(ev.map((e) => e.id)).size).toBe(2);
  });

  it('image change: confirmed by k changed frames of the last n, ended after lostAfter', () => {
    const t = tracker({ confirm: { human: { k: 2, n: 4 }, vehicle: { k: 2, n: 4 }, change: { k: 3, n: 4 } } });
    const box: Box = { x: 0.2, y: 0.2, w: 0.1, h: 0.1 };
    expect(t.observeChange(0, box, 0.01)).toEqual([]);
    expect(t.observeChange(100, null, 0)).toEqual([]);
    expect(t.observeChange(200, null, 0)).toEqual([]);
    expect(t.observeChange(300, box, 0.01)).toEqual([]);
    expect(t.observeChange(400, box, 0.02)).toEqual([]); // 3 of the last 4? no: 2 (0 fell out)
    expect(t.observeChange(500, box, 0.02)[0]).toMatchObject({ phase: 'start', type: 'change' });
    expect(t.tick(3500)).toEqual([]);
    expect(t.tick(3501)[0]).toMatchObject({ phase: 'end', type: 'change', lastSeen: 500, score: 0.02 });
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
