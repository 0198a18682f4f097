import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import type { DetectRequest, DetectResult, ObjectDetector } from '../../../src/detect/detector-host.js';
import { LensPipeline, type LensPipelineOptions } from '../../../src/detect/pipeline.js';
import { allEnabled, type PipelineSettings } from '../../../src/detect/settings.js';
import type { EpisodeEvent, TrackView } from '../../../src/detect/tracker.js';
import type { FrameDetection, LensFrame, Picture } from '../../../src/detect/types.js';
import { blankRgb, Scene, type Rect } from './scene.js';

/** Sees the objects it is told about, when their centre lies inside one of the crops. */
class FakeDetector implements ObjectDetector {
  readonly requests: DetectRequest[] = [];
  objects: FrameDetection[] = [];
  mode: 'ok' | 'busy' | 'fail' = 'ok';

  detect(req: DetectRequest): Promise<DetectResult> | null {
    if (this.mode === 'busy') return null;
    this.requests.push(req);
    if (this.mode === 'fail') return Promise.reject(new Error('worker died'));
    const { width, height } = req.frame;
    const seen = this.objects.filter((o) => {
      const cx = (o.box.x + o.box.w / 2) * width;
      const cy = (o.box.y + o.box.h / 2) * height;
      return req.crops.some((c) => cx >= c.x && cx <= c.x + c.w && cy >= c.y && cy <= c.y + c.h);
    });
    return Promise.resolve({ detections: seen, inferMs: 1, prepMs: 0, decodeMs: 0, crops: req.crops.length });
  }
}

const manualClock = (): Clock & { t: number } => {
  const c = { t: 0, now: () => c.t, setTimeout: () => 0 as never, clearTimeout: () => {}, setInterval: () => 0 as never, clearInterval: () => {} };
  return c;
};

interface Harness {
  pipeline: LensPipeline;
  detector: FakeDetector;
  events: EpisodeEvent[];
  errors: Error[];
  /** Pushes `count` frames at 10 fps from `t0`; `rect(i)` is the moving object (gray pixels) or null. */
  play(t0: number, count: number, rect: (i: number) => Rect | null, see?: boolean): Promise<void>;
}

function harness(settings: PipelineSettings = allEnabled(), over: Partial<LensPipelineOptions> = {}): Harness {
  const scene = new Scene();
  const rgb = blankRgb();
  const detector = new FakeDetector();
  const events: EpisodeEvent[] = [];
  const errors: Error[] = [];
  let n = 0;
  const pipeline = new LensPipeline({
    lens: 'wide',
    settings,
    detector,
    clock: manualClock(),
    newId: () => `e${++n}`,
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
    ...over,
  });
  return {
    pipeline,
    detector,
    events,
    errors,
    async play(t0, count, rect, see = true) {
      for (let i = 0; i < count; i++) {
        const r = rect(i);
        const gray = scene.frame(r ? [r] : []);
        detector.objects = r && see ? [{ coco: 0, score: 0.8, box: { x: r.x / 160, y: r.y / 90, w: r.w / 160, h: r.h / 90 } }] : [];
        const frame: LensFrame = { ts: t0 + i * 100, gray, rgb };
        await pipeline.pushFrame(frame);
      }
    },
  };
}

const walker = (i: number): Rect => ({ x: 10 + i * 2, y: 30, w: 12, h: 40, value: 230 });

describe('lens pipeline', () => {
  it('runs no inference at all on a static scene', async () => {
    const h = harness();
    await h.play(0, 50, () => null);
    expect(h.detector.requests).toHaveLength(0);
    expect(h.pipeline.stats()).toMatchObject({ frames: 50, inferenceRequests: 0, staticFrames: 50 });
    expect(h.events).toEqual([]);
  });

  it('looks at the moving object through crops and reports one human episode', async () => {
    const h = harness();
    await h.play(0, 5, () => null);
    await h.play(500, 30, walker);
    expect(h.detector.requests.length).toBeGreaterThan(0);
    for (const r of h.detector.requests) expect(r.crops.length).toBeGreaterThan(0);
    const starts = h.events.filter((e) => e.type === 'human' && e.phase === 'start');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({ lens: 'wide', id: expect.stringMatching(/^e\d+$/) as unknown, alert: true });
    h.pipeline.stop(10_000);
    expect(h.events.filter((e) => e.type === 'human' && e.phase === 'end')).toHaveLength(1);
  });

  it('keeps to maxRatePerLens and counts the frames it skipped', async () => {
    const h = harness({ ...allEnabled(), maxRatePerLens: 2 });
    await h.play(0, 5, () => null);
    await h.play(500, 40, walker); // 4 s of motion at 10 fps
    const crops = h.detector.requests.reduce((a, r) => a + r.crops.length, 0);
    expect(crops).toBeLessThanOrEqual(2 * 4 + 1);
    expect(h.pipeline.stats().droppedRate).toBeGreaterThan(20);
  });

  it('drops (and counts) frames while the detector is busy instead of queueing them', async () => {
    const h = harness();
    h.detector.mode = 'busy';
    await h.play(0, 5, () => null);
    await h.play(500, 20, walker);
    const s = h.pipeline.stats();
    expect(s.droppedBusy).toBeGreaterThan(0);
    expect(s.inferenceRequests).toBe(0);
  });

  it('survives a failing detector: the error is reported and image change keeps working', async () => {
    const h = harness();
    h.detector.mode = 'fail';
    await h.play(0, 5, () => null);
    await h.play(500, 20, walker);
    expect(h.errors.length).toBeGreaterThan(0);
    expect(h.pipeline.stats().failed).toBe(h.errors.length);
    expect(h.events.some((e) => e.type === 'change' && e.phase === 'start')).toBe(true);
  });

  it('without a model (detector null) only image change is reported', async () => {
    const h = harness(allEnabled(), { detector: null });
    await h.play(0, 5, () => null);
    await h.play(500, 20, walker);
    expect(h.events.every((e) => e.type === 'change')).toBe(true);
    expect(h.events.length).toBeGreaterThan(0);
  });

  it('only counts humans whose feet are inside the lens\'s areas', async () => {
    const settings = allEnabled();
    settings.human.areas = [[[0.6, 0], [1, 0], [1, 1], [0.6, 1]]]; // right part only; the walker stays left
    const h = harness(settings);
    await h.play(0, 5, () => null);
    await h.play(500, 20, walker);
    expect(h.detector.requests.length).toBeGreaterThan(0);
    expect(h.events.filter((e) => e.type === 'human')).toEqual([]);
  });

  it('ignores the image change caused by its own lights after notifyLightChange()', async () => {
    const h = harness();
    await h.play(0, 10, () => null);
    h.pipeline.notifyLightChange(1000);
    const spot: Rect = { x: 40, y: 10, w: 70, h: 60, value: 255 };
    await h.play(1000, 25, () => spot, false);
    expect(h.detector.requests).toHaveLength(0);
    expect(h.events).toEqual([]);
  });

  it('keeps re-checking a person who stopped moving, so the episode does not end while they stand there', async () => {
    const h = harness();
    await h.play(0, 5, () => null);
    await h.play(500, 20, walker);
    const stand = walker(19);
    const before = h.detector.requests.length;
    await h.play(2500, 100, () => stand); // 10 s standing still: absorbed by the change detector
    const keepalive = h.pipeline.stats().keepaliveRequests;
    expect(keepalive).toBeGreaterThanOrEqual(5);
    expect(h.detector.requests.length - before).toBeLessThan(60);
    expect(h.events.filter((e) => e.type === 'human' && e.phase === 'end')).toHaveLength(0);
    // Gone: the change left where they stood holds the episode a little (bounded by holdMax after
    // the last strong hit, 9 s here), then it ends once.
    await h.play(12_500, 120, () => null);
    const ends = h.events.filter((e) => e.type === 'human' && e.phase === 'end');
    expect(ends).toHaveLength(1);
    expect(ends[0]!.ts - ends[0]!.lastSeen).toBeLessThanOrEqual(9000 + 100);
  });

  it('more sensitivity never means fewer episodes (and 1 vs 100 differ)', async () => {
    const episodes = async (sensitivity: number): Promise<number> => {
      const h = harness(allEnabled(sensitivity));
      const scene = new Scene();
      const rgb = blankRgb();
      await h.play(0, 5, () => null);
      let t = 500;
      // Five visitors with decreasing detector scores, 6 s apart.
      for (const score of [0.9, 0.72, 0.68, 0.6, 0.5]) {
        h.detector.objects = [];
        for (let i = 0; i < 20; i++) {
          const r = walker(i);
          const frame: LensFrame = { ts: t, gray: scene.frame([r]), rgb };
          h.detector.objects = [{ coco: 0, score, box: { x: r.x / 160, y: r.y / 90, w: r.w / 160, h: r.h / 90 } }];
          await h.pipeline.pushFrame(frame);
          t += 100;
        }
        h.detector.objects = [];
        await h.play(t, 40, () => null);
        t += 4000;
      }
      return h.events.filter((e) => e.type === 'human' && e.phase === 'start').length;
    };
    const counts = [];
    for (const s of [1, 25, 50, 75, 100]) counts.push(await episodes(s));
    expect(counts).toEqual([1, 2, 3, 4, 5]); // one more visitor passes per step with these scores
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    expect(counts[0]).toBeLessThan(counts.at(-1)!);
  });

  it('keepPictures: the start comes with its own copy of the frame that confirmed it, whatever the tap does with its buffer afterwards', async () => {
    const pictures: Array<{ e: EpisodeEvent; picture?: Picture }> = [];
    const h = harness(allEnabled(), { keepPictures: true, onEvent: (e, picture) => pictures.push({ e, picture }) });
    const scene = new Scene();
    const rgb = blankRgb();
    await h.play(0, 5, () => null);
    for (let i = 0; i < 10; i++) {
      const r = walker(i);
      rgb.data.fill(i + 1); // the tap's pooled buffer: a new picture in it every frame
      h.detector.objects = [{ coco: 0, score: 0.8, box: { x: r.x / 160, y: r.y / 90, w: r.w / 160, h: r.h / 90 } }];
      await h.pipeline.pushFrame({ ts: 500 + i * 100, gray: scene.frame([r]), rgb });
    }
    const start = pictures.find((p) => p.e.phase === 'start' && p.e.type === 'human')!;
    expect(start.picture).toBeDefined();
    expect(start.picture!.ts).toBe(start.e.ts);
    expect(start.picture!.data).not.toBe(rgb.data);
    const frameIndex = (start.e.ts - 500) / 100;
    expect(start.picture!.data.every((v) => v === frameIndex + 1)).toBe(true); // that frame, not a later one
    expect(pictures.filter((p) => p.e.phase !== 'start').every((p) => p.picture === undefined)).toBe(true);
    // An image-change start has the picture of the frame it was decided on, too.
    const change = pictures.find((p) => p.e.phase === 'start' && p.e.type === 'change')!;
    expect(change.picture?.ts).toBe(change.e.ts);
    expect(change.picture!.data.every((v) => v === (change.e.ts - 500) / 100 + 1)).toBe(true);
  });

  it('onTracks: after each inference, the confirmed objects it saw, with their open episode; nothing before the start', async () => {
    const order: string[] = [];
    const tracks: TrackView[][] = [];
    let humanId = '';
    const h = harness(allEnabled(), {
      onEvent: (e) => {
        order.push(`${e.type}.${e.phase}`);
        if (e.type === 'human' && e.phase === 'start') humanId = e.id;
      },
      onTracks: (t) => {
        tracks.push(t);
        order.push('tracks');
      },
    });
    await h.play(0, 5, () => null);
    await h.play(500, 10, walker);
    const start = order.indexOf('human.start');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(order.slice(0, start)).not.toContain('tracks');
    expect(order[start + 1]).toBe('tracks');
    expect(tracks.length).toBeGreaterThan(3);
    for (const batch of tracks) {
      expect(batch).toHaveLength(1);
      expect(batch[0]).toMatchObject({ type: 'human', episodeId: humanId });
    }
    // Each batch is the inference's own sighting: the box follows the walker.
    expect(tracks.at(-1)![0]!.box.x).toBeGreaterThan(tracks[0]![0]!.box.x);
  });
});
