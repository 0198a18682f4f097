import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BACKGROUNDS, crossing, CUTOUTS, renderClip, truthOf, type CompositeSpec } from '../../src/detect/clipset.js';
import { DetectorHost } from '../../src/detect/detector-host.js';
import { DEFAULT_MEDIA, evalClip } from '../../src/detect/eval-runner.js';
import { daemonReplay } from '../../src/detect/evaluate.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (ffmpeg, the inference worker): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The eval's runner on one generated composite: the person cut-out of person.jpg crosses the
 * empty room of the person clip. Its truth comes from the overlay positions; the real model
 * (FastestDet in the worker) at the daemon's defaults must report it as exactly one episode.
 */
describe('eval runner on a generated composite clip', () => {
  let host: DetectorHost;
  let dir: string;
  const spec: CompositeSpec = {
    name: 'it-room-person',
    set: 'tune',
    background: BACKGROUNDS.room,
    // Long enough that the person of the next pass (--loop) comes more than the tracker's
    // lostAfterMs (3 s) after this one left: two visits, not one.
    durationSec: 9,
    objects: [crossing(CUTOUTS.person, { heightFrac: 0.6, speedPxS: 150, t0: 0.5, bottom: 0.95 })],
    effect: 'none',
  };
  let clip: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'camd-eval-it-'));
    [host, clip] = await Promise.all([DetectorHost.open(), renderClip(spec, DEFAULT_MEDIA, dir)]);
  });
  afterAll(async () => {
    await host?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('replays at the daemon tap defaults and finds the composited person as one episode', async () => {
    const truth = truthOf(spec, null);
    expect(truth.human).toHaveLength(1);
    const [a, b] = truth.human[0]!;
    expect(b - a).toBeGreaterThan(4); // the person really is in view most of the clip
    const r = await evalClip(clip, truth, host);
    const d = daemonReplay();
    expect(r.run.fps).toBe(d.fps);
    expect(r.run.gray).toEqual(d.gray);
    expect(r.run.rgb).toEqual(d.rgb);
    expect(r.run.errors).toEqual([]);
    const human = r.score!.human;
    const overlapping = r.run.episodes.filter((e) => e.type === 'human' && e.start <= b + 1 && e.end >= a - 1);
    expect(overlapping).toHaveLength(1);
    expect(human).toMatchObject({ ranges: 1, episodes: 1, matchedRanges: 1, splits: 0, falseEpisodes: 0, precision: 1, recall: 1 });
    expect(human.delaysS).toHaveLength(1);
    expect(human.delaysS[0]!).toBeLessThan(2);
    expect(r.score!.vehicle.episodes).toBe(0);
  });

  it('--loop 2: one pipeline, timestamps running on, one episode per pass', async () => {
    const truth = truthOf(spec, null);
    const r = await evalClip(clip, truth, host, { loop: 2 });
    expect(r.run.passes).toBe(2);
    expect(r.run.frames).toBe(2 * r.run.passSec * r.run.fps);
    const eps = r.run.episodes.filter((e) => e.type === 'human');
    expect(eps).toHaveLength(2);
    expect(eps[1]!.start).toBeGreaterThan(r.run.passSec);
    expect(r.score!.human).toMatchObject({ ranges: 2, episodes: 2, matchedRanges: 2, splits: 0, merges: 0 });
  });
});
