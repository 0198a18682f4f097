import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FramePool, TapPairer, tapFrame } from '../../../src/capture/tap.js';
import type { TapSettings } from '../../../src/capture/args.js';
import '../../../src/capture/types.js';
import type { Clock } from '../../../src/core/clock.js';
import type { DetectRequest, DetectResult, ObjectDetector } from '../../../src/detect/detector-host.js';
import { LensLane } from '../../../src/detect/lane.js';
import { LensPipeline } from '../../../src/detect/pipeline.js';
import { allEnabled } from '../../../src/detect/settings.js';
import type { LensFrame } from '../../../src/detect/types.js';
import { EventBus } from '../../../src/state/bus.js';
import { Scene } from './scene.js';

/**
 * The path of a frame from the tap to the lane, with the real pieces: TapPairer pairs the gray
 * and rgb outputs of one ffmpeg run, the capture service's tapFrame() makes the one
 * `capture.frame` of them, the bus delivers it, and the lane (as the detection service wires it)
 * hands it to its LensPipeline. Nothing on the way pairs again or copies.
 */
class RecordingDetector implements ObjectDetector {
  readonly requests: DetectRequest[] = [];
  detect(req: DetectRequest): Promise<DetectResult> {
    this.requests.push(req);
    return Promise.resolve({ detections: [], inferMs: 1, prepMs: 0, decodeMs: 0, crops: req.crops.length });
  }
}

const clock: Clock = { now: () => 0, setTimeout: () => 0 as never, clearTimeout: () => {}, setInterval: () => 0 as never, clearInterval: () => {} };

function rig(rgb: boolean) {
  const tap: TapSettings = { width: 160, height: 90, fps: 5, rgbWidth: rgb ? 320 : 0, rgbHeight: rgb ? 180 : 0 };
  const bus = new EventBus(pino({ level: 'silent' }));
  const grayPool = new FramePool(tap.width * tap.height);
  const rgbPool = new FramePool(Math.max(1, tap.rgbWidth * tap.rgbHeight * 3));
  let t = 1000;
  const pairer = new TapPairer({
    rgb,
    now: () => (t += 200),
    schedule: (fn) => fn(),
    deliver: (pair) => bus.emit('capture.frame', tapFrame('wide', pair, tap)),
    release: (kind, buf) => (kind === 'gray' ? grayPool : rgbPool).release(buf),
  });
  const detector = new RecordingDetector();
  const lane = new LensLane({ lens: 'wide', settings: allEnabled(50, 100), detector, clock, onEpisode: () => {}, onError: (e) => { throw e; } });
  // As DetectionService.onFrame: the lens's lane, straight from the bus.
  bus.on({ name: 'detection' }, 'capture.frame', (f) => {
    if (f.lens === 'wide') lane.onFrame(f);
  });
  // Calls through to the real pipeline; records what the lane handed it.
  const push = vi.spyOn(LensPipeline.prototype, 'pushFrame');
  /** One instant out of ffmpeg: its gray frame (the scene) and, RGB tap on, its rgb frame. */
  const feed = (gray: Uint8Array): { gray: Buffer; rgb?: Buffer } => {
    const g = grayPool.acquire();
    g.set(gray);
    pairer.gray(g);
    if (!rgb) return { gray: g };
    const r = rgbPool.acquire();
    r.fill(7);
    pairer.rgb(r);
    return { gray: g, rgb: r };
  };
  return { lane, detector, pushed: () => push.mock.calls.map((c): LensFrame => c[0]), feed, pairer };
}

afterEach(() => vi.restoreAllMocks());

describe('a tap frame reaches the detection lane', () => {
  it('exactly once, with both planes of its instant, the tap\'s own buffers (no re-pairing, no copy)', () => {
    const { lane, detector, pushed: calls, feed, pairer } = rig(true);
    const scene = new Scene(160, 90);
    const sent: { gray: Buffer; rgb?: Buffer }[] = [];
    for (let i = 0; i < 5; i++) sent.push(feed(scene.frame().data));
    // Something appears: change gates the detector, which crops from the RGB plane of the frame.
    for (let i = 0; i < 10; i++) sent.push(feed(scene.frame([{ x: 40 + 4 * i, y: 30, w: 30, h: 40, value: 250 }]).data));

    const pushed = calls();
    expect(pushed).toHaveLength(sent.length);
    pushed.forEach((f, i) => {
      expect(f.gray).toMatchObject({ width: 160, height: 90 });
      expect(f.rgb).toMatchObject({ width: 320, height: 180 });
      expect(f.gray.data).toBe(sent[i]!.gray);
      expect(f.rgb.data).toBe(sent[i]!.rgb);
    });
    expect(lane.state(['human'], true).framesIn).toBe(sent.length);
    expect(pairer.counts).toMatchObject({ frames: sent.length, delivered: sent.length, unpaired: 0 });
    expect(detector.requests.length).toBeGreaterThan(0);
    for (const r of detector.requests) {
      expect(r.frame).toMatchObject({ width: 320, height: 180 });
      expect(sent.some((s) => s.rgb === r.frame.data)).toBe(true);
    }
  });

  it('without an RGB tap: each frame once, change detection only, the detector is not asked to crop nothing', () => {
    const { lane, detector, pushed: calls, feed } = rig(false);
    const scene = new Scene(160, 90);
    for (let i = 0; i < 5; i++) feed(scene.frame().data);
    for (let i = 0; i < 10; i++) feed(scene.frame([{ x: 40 + 4 * i, y: 30, w: 30, h: 40, value: 250 }]).data);
    const pushed = calls();
    expect(pushed).toHaveLength(15);
    expect(pushed.every((f) => f.rgb.width === 0 && f.gray.width === 160)).toBe(true);
    const st = lane.state(['change'], false);
    expect(st.framesIn).toBe(15);
    expect(st.changeFrames).toBeGreaterThan(0);
    expect(detector.requests).toHaveLength(0);
  });
});
