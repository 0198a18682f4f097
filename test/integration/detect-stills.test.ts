import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DetectorHost } from '../../src/detect/detector-host.js';
import { objectThresholds } from '../../src/detect/sensitivity.js';
import { decodeImage, detectStill, type StillDetection } from '../../src/detect/stills.js';
import { loadTruth, type GroundTruth } from '../../src/detect/truth.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/** Real ONNX inference on the sample stills, judged against the hand-made ground truth. */
const MEDIA = '/work/shared/media';
const TRUTH = new URL('../fixtures/ground-truth.json', import.meta.url).pathname;
const DEFAULT = objectThresholds('human', 50).score;

describe('FastestDet on the sample stills', () => {
  let host: DetectorHost;
  let truth: GroundTruth;
  // Each still is decoded and run once (whole image, letterboxed); the tests read the results.
  const results = new Map<string, StillDetection[]>();
  beforeAll(async () => {
    host = await DetectorHost.open();
    truth = await loadTruth(TRUTH);
    for (const file of Object.keys(truth.stills)) results.set(file, await detectStill(host, await decodeImage(`${MEDIA}/${file}`), 'letterbox'));
  });
  afterAll(async () => {
    await host.close();
  });

  const best = (file: string, cls: 'human' | 'vehicle'): number =>
    Math.max(0, ...(results.get(file) ?? []).filter((d) => d.cls === cls).map((d) => d.score));

  it('finds the person in person.jpg above the default threshold', () => {
    expect(best('person.jpg', 'human')).toBeGreaterThan(DEFAULT);
  });

  it('finds no human with a high score in horses.jpg or dog.jpg', () => {
    expect(best('horses.jpg', 'human')).toBeLessThan(0.5);
    expect(best('dog.jpg', 'human')).toBeLessThan(0.5);
  });

  it('agrees with the ground truth on every still: human/vehicle present or absent at the default threshold', () => {
    expect(results.size).toBe(5);
    for (const [file, t] of Object.entries(truth.stills)) {
      expect({ file, human: best(file, 'human') > DEFAULT }).toEqual({ file, human: t.human > 0 });
      expect({ file, vehicle: best(file, 'vehicle') > DEFAULT }).toEqual({ file, vehicle: t.vehicle > 0 });
    }
  });

  it('is fed BGR like the reference: the giraffe is a giraffe (RGB input calls it a zebra)', () => {
    expect(results.get('giraffe.jpg')![0]!.coco).toBe(23); // COCO "giraffe"
  });
});
