import { describe, expect, it } from 'vitest';
import { cocoToClass, decodeOutput, GRID, nms, NUM_CLASSES, type RawDetection } from '../../../src/detect/fastestdet.js';

const PLANE = GRID * GRID;
const logit = (p: number): number => Math.log(p / (1 - p));
const atanh = (v: number): number => 0.5 * Math.log((1 + v) / (1 - v));

/** An all-background output with one object written into cell (row, col). */
function output(cells: Array<{ row: number; col: number; obj: number; cls: number; clsScore: number; ox: number; oy: number; w: number; h: number }>): Float32Array {
  const out = new Float32Array((5 + NUM_CLASSES) * PLANE);
  for (const c of cells) {
    const i = c.row * GRID + c.col;
    out[i] = c.obj;
    out[PLANE + i] = atanh(c.ox);
    out[2 * PLANE + i] = atanh(c.oy);
    out[3 * PLANE + i] = logit(c.w);
    out[4 * PLANE + i] = logit(c.h);
    out[(5 + c.cls) * PLANE + i] = c.clsScore;
    // The rest of the softmax mass on another class, lower than the winner.
    out[(5 + ((c.cls + 1) % NUM_CLASSES)) * PLANE + i] = (1 - c.clsScore) / 2;
  }
  return out;
}

describe('FastestDet decode (reference maths)', () => {
  it('scores cls^0.4 * obj^0.6 and places the box at (cell + tanh) / grid with sigmoid sizes', () => {
    const out = output([{ row: 10, col: 5, obj: 0.9, cls: 2, clsScore: 0.8, ox: 0.5, oy: -0.25, w: 0.3, h: 0.6 }]);
    const [d, ...rest] = decodeOutput(out, 0.5);
    expect(rest).toHaveLength(0);
    expect(d!.coco).toBe(2);
    expect(d!.score).toBeCloseTo(0.8 ** 0.4 * 0.9 ** 0.6, 5);
    const cx = (5 + 0.5) / GRID;
    const cy = (10 - 0.25) / GRID;
    expect(d!.x1).toBeCloseTo(cx - 0.15, 5);
    expect(d!.x2).toBeCloseTo(cx + 0.15, 5);
    expect(d!.y1).toBeCloseTo(cy - 0.3, 5);
    expect(d!.y2).toBeCloseTo(cy + 0.3, 5);
  });

  it('keeps only scores strictly above the threshold', () => {
    const out = output([{ row: 0, col: 0, obj: 0.5, cls: 0, clsScore: 0.5, ox: 0, oy: 0, w: 0.1, h: 0.1 }]);
    expect(decodeOutput(out, 0.5)).toHaveLength(0);
    expect(decodeOutput(out, 0.49)).toHaveLength(1);
  });

  it('rejects an output of the wrong size', () => {
    expect(() => decodeOutput(new Float32Array(10), 0.5)).toThrow(/expected/);
  });
});

describe('NMS', () => {
  const box = (x1: number, coco: number, score: number): RawDetection => ({ x1, y1: 0, x2: x1 + 1, y2: 1, score, coco });

  it('suppresses an overlapping box of the same class, keeps the higher score', () => {
    const kept = nms([box(0.1, 0, 0.7), box(0, 0, 0.9)]);
    expect(kept).toEqual([box(0, 0, 0.9)]);
  });

  it('keeps overlapping boxes of different classes and boxes at IoU <= 0.45', () => {
    expect(nms([box(0, 0, 0.9), box(0.1, 2, 0.8)])).toHaveLength(2);
    // Same class, shifted by 0.62 of the width: IoU = 0.38/1.62 ≈ 0.235.
    expect(nms([box(0, 0, 0.9), box(0.62, 0, 0.8)])).toHaveLength(2);
  });
});

describe('COCO mapping', () => {
  it('maps person to human and road vehicles (incl. bicycle, motorbike) to vehicle, nothing else', () => {
    expect(cocoToClass(0)).toBe('human');
    for (const c of [1, 2, 3, 5, 7]) expect(cocoToClass(c)).toBe('vehicle');
    for (const c of [4, 6, 8, 16, 17, 39]) expect(cocoToClass(c)).toBeNull(); // aeroplane, train, boat, dog, horse, bottle
  });
});
