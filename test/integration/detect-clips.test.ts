import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DetectorHost } from '../../src/detect/detector-host.js';
import { runClip } from '../../src/detect/evaluate.js';
import { loadTruth, scoreClip, truthFor, type GroundTruth } from '../../src/detect/truth.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The real engine on real footage: ffmpeg-decoded frames → change gate → crops → FastestDet in
 * the worker → tracker, judged against the hand-made ground truth. Analysed at 5 frames/s, the
 * daemon's tap default (`capture.tap.fps`, which runClip also defaults to).
 */
const MEDIA = '/work/shared/media';
const TRUTH = new URL('../fixtures/ground-truth.json', import.meta.url).pathname;
const execFileP = promisify(execFile);

describe('detection engine on the sample clips', () => {
  let host: DetectorHost;
  let truth: GroundTruth;
  let dir: string;
  beforeAll(async () => {
    host = await DetectorHost.open();
    truth = await loadTruth(TRUTH);
    dir = await mkdtemp(join(tmpdir(), 'camd-clips-'));
  });
  afterAll(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds every person episode in one-by-one-person-detection.mp4, and nothing else', async () => {
    const clip = `${MEDIA}/one-by-one-person-detection.mp4`;
    const run = await runClip({ clip, detector: host, fps: 5 });
    const score = scoreClip(run, truthFor(truth, clip)!);
    expect(run.errors).toEqual([]);
    expect(score.human.recall).toBe(1);
    expect(score.human.precision).toBe(1);
    expect(score.vehicle.episodes).toBe(0);
    // Gated: the empty room between visitors is not sent to the detector all the time.
    expect(run.stats.staticFrames).toBeGreaterThan(0);
  });

  it('reports no vehicle in bottle-detection.mp4', async () => {
    const clip = `${MEDIA}/bottle-detection.mp4`;
    const run = await runClip({ clip, detector: host, fps: 5 });
    expect(run.stats.inferenceRequests).toBeGreaterThan(0); // it did look
    expect(run.episodes.filter((e) => e.type === 'vehicle')).toEqual([]);
  });

  it('finds the cars in car-detection.mp4 and no humans', async () => {
    const clip = `${MEDIA}/car-detection.mp4`;
    const run = await runClip({ clip, detector: host, fps: 5 });
    const score = scoreClip(run, truthFor(truth, clip)!);
    expect(score.vehicle.precision).toBe(1);
    expect(score.vehicle.recall).toBeGreaterThanOrEqual(2 / 3);
    expect(score.human.episodes).toBe(0);
  });

  it('a static clip gives no change and runs no inference at all', async () => {
    const still = join(dir, 'empty-room.png');
    const clip = join(dir, 'static.mp4');
    // An empty-room frame of the person clip, repeated for 8 s (H.264 adds its own small noise).
    await execFileP('ffmpeg', ['-v', 'error', '-ss', '2', '-i', `${MEDIA}/one-by-one-person-detection.mp4`, '-frames:v', '1', still]);
    await execFileP('ffmpeg', ['-v', 'error', '-loop', '1', '-i', still, '-t', '8', '-r', '10', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip]);
    const before = host.stats().requests;
    const run = await runClip({ clip, detector: host, fps: 10 });
    expect(run.frames).toBeGreaterThanOrEqual(75);
    expect(run.stats.changeFrames).toBe(0);
    expect(run.stats.inferenceRequests).toBe(0);
    expect(host.stats().requests).toBe(before);
    expect(run.episodes).toEqual([]);
  });
});
