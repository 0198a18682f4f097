import { describe, expect, it } from 'vitest';
import { ChangeDetector, type ChangeResult } from '../../../src/detect/change.js';
import { rng, Scene, type Rect } from './scene.js';

const FRAME_MS = 100;

/** Feeds `frames` frames produced by `make(i)`, returns the results. */
function run(det: ChangeDetector, scene: Scene, count: number, make: (i: number) => { rects?: Rect[]; offset?: number }, t0 = 0): ChangeResult[] {
  const out: ChangeResult[] = [];
  for (let i = 0; i < count; i++) {
    const { rects = [], offset = 0 } = make(i);
    out.push(det.process(scene.frame(rects, offset), t0 + i * FRAME_MS));
  }
  return out;
}

describe('change detector', () => {
  it('reports nothing on a static, noisy scene', () => {
    const scene = new Scene();
    const res = run(new ChangeDetector(), scene, 50, () => ({}));
    expect(res[0]!.state).toBe('warmup');
    expect(res.every((r) => r.regions.length === 0)).toBe(true);
  });

  it('finds a moving object where it is', () => {
    const scene = new Scene();
    const det = new ChangeDetector();
    run(det, scene, 10, () => ({}));
    const res = run(det, scene, 10, (i) => ({ rects: [{ x: 20 + i * 4, y: 30, w: 16, h: 30, value: 220 }] }), 1000);
    const last = res.at(-1)!;
    expect(last.regions).toHaveLength(1);
    const b = last.regions[0]!.box;
    const objX = (20 + 9 * 4) / 160;
    expect(b.x).toBeLessThanOrEqual(objX + 0.01);
    expect(b.x + b.w).toBeGreaterThanOrEqual(objX + 16 / 160 - 0.01);
    expect(b.y).toBeLessThanOrEqual(30 / 90 + 0.01);
    expect(b.y + b.h).toBeGreaterThanOrEqual(60 / 90 - 0.01);
    expect(last.regions[0]!.meanDiff).toBeGreaterThan(50);
  });

  it('ignores a global exposure step (auto exposure) instead of reporting the whole frame', () => {
    const scene = new Scene();
    const det = new ChangeDetector();
    run(det, scene, 10, () => ({}));
    const res = run(det, scene, 20, () => ({ offset: 35 }), 1000);
    expect(res.every((r) => r.regions.length === 0 && r.state === 'ok')).toBe(true);
  });

  it('recalibrates when most of the frame changes non-uniformly (IR or spotlight switching) and recovers', () => {
    const scene = new Scene();
    const det = new ChangeDetector();
    run(det, scene, 10, () => ({}));
    // Left 70 % of the picture lit up, the rest unchanged: not a uniform step.
    const lit: Rect = { x: 0, y: 0, w: 112, h: 90, value: 230 };
    const during = run(det, scene, 30, () => ({ rects: [lit] }), 1000);
    expect(during[0]!.state).toBe('calibrating');
    expect(during.every((r) => r.regions.length === 0)).toBe(true);
    expect(during.at(-1)!.state).toBe('ok');
    // Afterwards a real object is found again.
    const after = run(det, scene, 5, (i) => ({ rects: [lit, { x: 130, y: 20 + i * 3, w: 12, h: 20, value: 10 }] }), 4000);
    expect(after.at(-1)!.regions.length).toBeGreaterThan(0);
  });

  it('ignores what its own lights do during the settle window after notifyLightChange()', () => {
    const scene = new Scene();
    const det = new ChangeDetector({ settleMs: 2000 });
    run(det, scene, 10, () => ({}));
    det.notifyLightChange(1000);
    // A spotlight cone: a bright patch of 20 % of the frame (below the global threshold).
    const cone: Rect = { x: 40, y: 20, w: 60, h: 45, value: 250 };
    const res = run(det, scene, 20, () => ({ rects: [cone] }), 1000);
    expect(res.slice(0, 20).every((r) => r.regions.length === 0)).toBe(true);
    expect(res[0]!.state).toBe('settling');
    // Without the notification the same patch is change.
    const other = new ChangeDetector({ settleMs: 2000 });
    run(other, scene, 10, () => ({}));
    const seen = run(other, scene, 3, () => ({ rects: [cone] }), 1000);
    expect(seen.at(-1)!.regions.length).toBeGreaterThan(0);
  });

  it('strobes flashing: nothing is change from the first flash until settleMs after the flashing stopped, however long it lasts', () => {
    const scene = new Scene();
    const det = new ChangeDetector({ settleMs: 2000 });
    run(det, scene, 10, () => ({}));
    det.notifyLightChange(1000, true);
    // A red flash on part of the picture every other frame, for 10 s (far past settleMs).
    const flash: Rect = { x: 30, y: 10, w: 50, h: 40, value: 200 };
    const during = run(det, scene, 100, (i) => ({ rects: i % 2 ? [flash] : [] }), 1000);
    expect(during.every((r) => r.regions.length === 0 && r.state === 'settling')).toBe(true);
    det.notifyLightChange(11_000, false);
    const tail = run(det, scene, 10, (i) => ({ rects: i % 2 ? [flash] : [] }), 11_000);
    expect(tail.every((r) => r.regions.length === 0)).toBe(true); // settling on after the last switch
    // Past the settle time, the detector sees change again (here the same patch, as a real object would be).
    const after = run(det, scene, 5, () => ({ rects: [flash] }), 13_100);
    expect(after.some((r) => r.regions.length > 0)).toBe(true);
    // Without `flashing`, one notification settles only settleMs: the same flashes are change after it.
    const plain = new ChangeDetector({ settleMs: 2000 });
    run(plain, scene, 10, () => ({}));
    plain.notifyLightChange(1000);
    const seen = run(plain, scene, 60, (i) => ({ rects: i % 2 ? [flash] : [] }), 1000);
    expect(seen.slice(30).some((r) => r.regions.length > 0)).toBe(true);
  });

  it('drops rain-like speckle: tiny spots, new every frame', () => {
    const scene = new Scene();
    const det = new ChangeDetector();
    const r = rng(7);
    run(det, scene, 10, () => ({}));
    const res = run(det, scene, 40, () => ({
      rects: Array.from({ length: 30 }, () => ({ x: Math.floor(r() * 158), y: Math.floor(r() * 88), w: 2, h: 2, value: 255 })),
    }), 1000);
    expect(res.every((x) => x.regions.length === 0)).toBe(true);
  });

  it('needs a change to persist for two frames (a one-frame flash is not reported)', () => {
    const scene = new Scene();
    const det = new ChangeDetector();
    run(det, scene, 10, () => ({}));
    const flash = run(det, scene, 3, (i) => ({ rects: i === 0 ? [{ x: 50, y: 30, w: 20, h: 20, value: 250 }] : [] }), 1000);
    expect(flash.every((x) => x.regions.length === 0)).toBe(true);
  });

  it('absorbs an object that stopped (a parked car) after a few seconds, not immediately', () => {
    const scene = new Scene();
    const det = new ChangeDetector({ absorbAfterMs: 2000, absorbMs: 1000 });
    run(det, scene, 10, () => ({}));
    const parked: Rect = { x: 60, y: 40, w: 30, h: 20, value: 230 };
    const res = run(det, scene, 100, () => ({ rects: [parked] }), 1000);
    expect(res[15]!.regions.length).toBe(1); // 1.5 s: still reported
    expect(res.at(-1)!.regions.length).toBe(0); // 10 s: part of the background
  });

  it('does not depend on the frame rate for its time constants', () => {
    const scene = new Scene();
    const lastReported = (fps: number): number => {
      const det = new ChangeDetector();
      const dt = 1000 / fps;
      det.process(scene.frame(), 0);
      for (let t = dt; t < 1000; t += dt) det.process(scene.frame(), t);
      let last = 0;
      for (let t = 1000; t < 12000; t += dt) {
        if (det.process(scene.frame([{ x: 60, y: 40, w: 30, h: 20, value: 230 }]), t).regions.length > 0) last = t;
      }
      return last;
    };
    expect(Math.abs(lastReported(5) - lastReported(20))).toBeLessThan(1000);
  });
});
