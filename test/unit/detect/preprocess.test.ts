import { beforeAll, describe, expect, it } from 'vitest';
import { readClip } from '../../../src/detect/clip-reader.js';
import { planCrops } from '../../../src/detect/crops.js';
import { clampCrop, fillInput, PAD_VALUE, placementFor, toFrameBox, type Placement } from '../../../src/detect/preprocess.js';
import { SimdResizer, simdAvailable } from '../../../src/detect/resize-simd.js';
import type { CropPlan, RgbFrame } from '../../../src/detect/types.js';

function solid(width: number, height: number, rgb: [number, number, number]): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

describe('model input', () => {
  it('is planar B, G, R scaled to 0..1 (the reference feeds OpenCV BGR)', () => {
    const out = new Float32Array(3 * 8 * 8);
    fillInput(solid(16, 16, [255, 128, 0]), { x: 0, y: 0, w: 16, h: 16, fit: 'stretch' }, out, 8);
    expect(out[0]).toBeCloseTo(0, 5); // B plane
    expect(out[64]).toBeCloseTo(128 / 255, 5); // G plane
    expect(out[128]).toBeCloseTo(1, 5); // R plane
  });

  it('letterboxes a wide crop with gray bars above and below', () => {
    const out = new Float32Array(3 * 8 * 8);
    const pl = fillInput(solid(16, 8, [0, 0, 0]), { x: 0, y: 0, w: 16, h: 8, fit: 'letterbox' }, out, 8);
    expect(pl).toEqual({ dx: 0, dy: 2, dw: 8, dh: 4 });
    expect(out[0]).toBeCloseTo(PAD_VALUE, 5); // top bar
    expect(out[2 * 8]).toBeCloseTo(0, 5); // first image row
    expect(out[7 * 8]).toBeCloseTo(PAD_VALUE, 5); // bottom bar
  });

  it('resamples bilinearly: a left-black/right-white frame keeps its edge in the middle', () => {
    const f = solid(4, 1, [0, 0, 0]);
    f.data.set([255, 255, 255, 255, 255, 255], 6);
    const out = new Float32Array(3 * 8 * 8);
    fillInput(f, { x: 0, y: 0, w: 4, h: 1, fit: 'stretch' }, out, 8);
    const row = Array.from(out.subarray(0, 8));
    expect(row[0]).toBe(0);
    expect(row[7]).toBe(1);
    expect(row.every((v, i) => i === 0 || v >= row[i - 1]!)).toBe(true);
  });

  it('clamps a crop that overhangs the frame', () => {
    expect(clampCrop({ x: -5, y: 10, w: 50, h: 50, fit: 'letterbox' }, 20, 30)).toEqual({ x: 0, y: 10, w: 20, h: 20, fit: 'letterbox' });
  });

  it('maps a model-space box back to frame coordinates through the letterbox', () => {
    const crop = { x: 100, y: 50, w: 200, h: 100, fit: 'letterbox' as const };
    const pl = placementFor(crop, 352);
    // The whole visible content of the input = the crop itself.
    const all = toFrameBox({ x1: pl.dx / 352, y1: pl.dy / 352, x2: (pl.dx + pl.dw) / 352, y2: (pl.dy + pl.dh) / 352, score: 1, coco: 0 }, crop, pl, 352, 400, 200);
    expect(all.x).toBeCloseTo(100 / 400, 3);
    expect(all.y).toBeCloseTo(50 / 200, 3);
    expect(all.w).toBeCloseTo(200 / 400, 3);
    expect(all.h).toBeCloseTo(100 / 200, 3);
    // A box reaching into the padding is clipped to the crop.
    const clipped = toFrameBox({ x1: 0, y1: 0, x2: 1, y2: 1, score: 1, coco: 0 }, crop, pl, 352, 400, 200);
    expect(clipped).toEqual(all);
  });
});

/**
 * The straightforward version fillInput replaced (OpenCV INTER_LINEAR pixel centres, four taps per
 * output pixel, B,G,R planes), kept here as the reference the optimised one must match.
 */
function referenceTaps(srcStart: number, srcLen: number, dstLen: number, limit: number): { i0: number[]; i1: number[]; w: number[] } {
  const i0: number[] = [];
  const i1: number[] = [];
  const w: number[] = [];
  const scale = srcLen / dstLen;
  for (let d = 0; d < dstLen; d++) {
    const s = Math.max(0, (d + 0.5) * scale - 0.5);
    const f = Math.floor(s);
    const a = Math.min(srcStart + f, limit - 1);
    i0.push(a);
    i1.push(Math.min(a + 1, srcStart + srcLen - 1, limit - 1));
    w.push(Math.fround(s - f));
  }
  return { i0, i1, w };
}

function fillInputReference(frame: RgbFrame, crop: CropPlan, out: Float32Array, size: number): Placement {
  const plane = size * size;
  const c = clampCrop(crop, frame.width, frame.height);
  const pl = placementFor(c, size);
  if (pl.dw < size || pl.dh < size) out.fill(PAD_VALUE);
  const xs = referenceTaps(c.x, c.w, pl.dw, frame.width);
  const ys = referenceTaps(c.y, c.h, pl.dh, frame.height);
  const px = (x: number, y: number, ch: number): number => frame.data[y * frame.width * 3 + x * 3 + ch]!;
  for (let dy = 0; dy < pl.dh; dy++) {
    const wy = ys.w[dy]!;
    for (let dx = 0; dx < pl.dw; dx++) {
      const wx = xs.w[dx]!;
      const o = (pl.dy + dy) * size + pl.dx + dx;
      for (const [plane_, ch] of [[0, 2], [1, 1], [2, 0]] as const) {
        const v =
          px(xs.i0[dx]!, ys.i0[dy]!, ch) * (1 - wx) * (1 - wy) +
          px(xs.i1[dx]!, ys.i0[dy]!, ch) * wx * (1 - wy) +
          px(xs.i0[dx]!, ys.i1[dy]!, ch) * (1 - wx) * wy +
          px(xs.i1[dx]!, ys.i1[dy]!, ch) * wx * wy;
        out[plane_ * plane + o] = v / 255;
      }
    }
  }
  return pl;
}

describe('optimised fillInput', () => {
  // A real frame (the person clip at 5 s, 640x360 as the tap sends it) plus a noisy synthetic one
  // whose odd size exercises the clamped borders.
  let real: RgbFrame;
  beforeAll(async () => {
    for await (const f of readClip({ path: '/work/shared/media/one-by-one-person-detection.mp4', fps: 10, gray: { width: 160, height: 90 }, rgb: { width: 640, height: 360 }, startTs: 0, maxSeconds: 5.2 })) real = f.rgb;
  });

  function noisy(width: number, height: number): RgbFrame {
    const data = new Uint8Array(width * height * 3);
    let s = 12345;
    for (let i = 0; i < data.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      data[i] = s >>> 24;
    }
    return { width, height, data };
  }

  const plans = (w: number, h: number): CropPlan[] => [
    ...(['squash', 'letterbox', 'tiles'] as const).flatMap((m) => planCrops(m, w, h, [])),
    { x: w * 0.4, y: h * 0.2, w: h * 0.5, h: h * 0.5, fit: 'letterbox' }, // a `crops` square, upscaled
    { x: w * 0.1, y: h * 0.1, w: w * 0.3, h: h * 0.8, fit: 'letterbox' }, // tall: pillarbox
    { x: w - 30, y: h - 20, w: 90, h: 70, fit: 'letterbox' }, // overhangs the bottom-right corner
    { x: 3.4, y: 7.6, w: 5, h: 3, fit: 'stretch' }, // tiny, huge upscale
  ];

  it('matches the straightforward four-tap reference within 1e-6, on a real frame and on noise', () => {
    expect(real.width).toBe(640);
    const size = 352;
    const got = new Float32Array(3 * size * size);
    const want = new Float32Array(3 * size * size);
    for (const frame of [real, noisy(333, 187), noisy(500, 700)]) {
      for (const plan of plans(frame.width, frame.height)) {
        got.fill(-1);
        want.fill(-2);
        expect(fillInput(frame, plan, got, size)).toEqual(fillInputReference(frame, plan, want, size));
        let worst = 0;
        for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst, `${frame.width}x${frame.height} ${JSON.stringify(plan)}`).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('the WASM SIMD version (what the worker uses) matches the reference within 1e-6 too', () => {
    // Node 20 has WebAssembly SIMD: a null here would silently put the worker back on the JS loops.
    expect(simdAvailable()).toBe(true);
    const simd = SimdResizer.create()!;
    const size = 352;
    const want = new Float32Array(3 * size * size);
    // Small frame first, then larger ones: the wasm memory grows and its views are re-made;
    // plans alternate, so the column table is rebuilt between calls as well as reused.
    for (const frame of [noisy(333, 187), real, noisy(500, 700), noisy(1920, 1080), real]) {
      for (const plan of [...plans(frame.width, frame.height), ...plans(frame.width, frame.height).reverse()]) {
        want.fill(-2);
        const pl = fillInputReference(frame, plan, want, size);
        const got = simd.fill(frame, plan, size);
        expect(got.placement).toEqual(pl);
        expect(got.input.length).toBe(want.length);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got.input[i]! - want[i]!));
        expect(worst, `${frame.width}x${frame.height} ${JSON.stringify(plan)}`).toBeLessThanOrEqual(1e-6);
      }
    }
    // And on a Node Buffer view with an offset, as the host's shared slot hands it over.
    const pool = Buffer.alloc(real.data.length + 64);
    pool.set(real.data, 64);
    const plan: CropPlan = { x: 100, y: 40, w: 200, h: 200, fit: 'letterbox' };
    const a = Float32Array.from(simd.fill({ ...real, data: pool.subarray(64) }, plan, size).input);
    const b = simd.fill(real, plan, size).input;
    expect(a.every((v, i) => v === b[i])).toBe(true);
  });

  it('reads a Node Buffer view of a pooled frame like a Uint8Array', () => {
    const pool = Buffer.alloc(real.data.length + 64);
    pool.set(real.data, 64);
    const view = { ...real, data: pool.subarray(64) };
    const a = new Float32Array(3 * 352 * 352);
    const b = new Float32Array(3 * 352 * 352);
    const plan: CropPlan = { x: 100, y: 40, w: 200, h: 200, fit: 'letterbox' };
    fillInput(view, plan, a, 352);
    fillInput(real, plan, b, 352);
    expect(a.every((v, i) => v === b[i])).toBe(true);
  });
});
