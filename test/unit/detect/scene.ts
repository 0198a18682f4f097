import type { GrayFrame, RgbFrame } from '../../../src/detect/types.js';

/**
 * Deterministic synthetic gray scenes for the change-detector and pipeline tests: a textured
 * background, per-frame sensor noise, and optional bright rectangles. No Math.random: a seeded
 * generator keeps every run identical.
 */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
  value: number;
}

export class Scene {
  readonly base: Uint8Array;
  private readonly noise: () => number;

  constructor(
    readonly width = 160,
    readonly height = 90,
    seed = 1,
    private readonly noiseAmp = 3,
  ) {
    const r = rng(seed);
    this.base = new Uint8Array(width * height);
    for (let i = 0; i < this.base.length; i++) this.base[i] = 80 + Math.floor(r() * 40);
    this.noise = rng(seed + 1000);
  }

  /** One frame: background + `offset` brightness + noise + rectangles (pixel coords). */
  frame(rects: Rect[] = [], offset = 0): GrayFrame {
    const { width, height } = this;
    const data = new Uint8Array(width * height);
    for (let i = 0; i < data.length; i++) {
      const n = Math.round((this.noise() * 2 - 1) * this.noiseAmp);
      data[i] = Math.max(0, Math.min(255, this.base[i]! + offset + n));
    }
    for (const r of rects) {
      for (let y = Math.max(0, r.y); y < Math.min(height, r.y + r.h); y++) {
        for (let x = Math.max(0, r.x); x < Math.min(width, r.x + r.w); x++) data[y * width + x] = r.value;
      }
    }
    return { width, height, data };
  }
}

/**
 * A blank RGB frame of the size the capture tap would send next to a 160x90 gray frame. The
 * pipeline only hands it to the detector; the fake detectors in these tests never read pixels.
 */
export function blankRgb(width = 640, height = 360): RgbFrame {
  return { width, height, data: new Uint8Array(width * height * 3) };
}
