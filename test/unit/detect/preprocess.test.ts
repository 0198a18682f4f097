import { describe, expect, it } from 'vitest';
import { clampCrop, fillInput, PAD_VALUE, placementFor, toFrameBox } from '../../../src/detect/preprocess.js';
import type { RgbFrame } from '../../../src/detect/types.js';

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
