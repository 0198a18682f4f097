import { describe, expect, it } from 'vitest';
import { planCrops, DEFAULT_CROP_OPTIONS } from '../../../src/detect/crops.js';
import type { Box, CropPlan } from '../../../src/detect/types.js';

const W = 640;
const H = 360;
const inside = (c: CropPlan): boolean => c.x >= 0 && c.y >= 0 && c.x + c.w <= W && c.y + c.h <= H;
const covers = (c: CropPlan, b: Box): boolean => {
  const cx = (b.x + b.w / 2) * W;
  const cy = (b.y + b.h / 2) * H;
  return cx >= c.x && cx <= c.x + c.w && cy >= c.y && cy <= c.y + c.h;
};

describe('feeding plans', () => {
  it('squash and letterbox look at the whole frame once', () => {
    expect(planCrops('squash', W, H, [])).toEqual([{ x: 0, y: 0, w: W, h: H, fit: 'stretch' }]);
    expect(planCrops('letterbox', W, H, [])).toEqual([{ x: 0, y: 0, w: W, h: H, fit: 'letterbox' }]);
  });

  it('tiles a 16:9 frame with two overlapping full-height squares', () => {
    const t = planCrops('tiles', W, H, []);
    expect(t).toEqual([
      { x: 0, y: 0, w: 360, h: 360, fit: 'letterbox' },
      { x: 280, y: 0, w: 360, h: 360, fit: 'letterbox' },
    ]);
  });

  it('crops: nothing to look at without regions', () => {
    expect(planCrops('crops', W, H, [])).toEqual([]);
  });

  it('crops: a small region gets one square of at least minSide around it (upscaled for the model)', () => {
    const r = { x: 0.8, y: 0.7, w: 0.03, h: 0.08 };
    const [c, ...more] = planCrops('crops', W, H, [r]);
    expect(more).toHaveLength(0);
    expect(c!.w).toBe(c!.h);
    expect(c!.w).toBeGreaterThanOrEqual(Math.round(DEFAULT_CROP_OPTIONS.minSide * H));
    expect(c!.w).toBeLessThan(352); // smaller than the model input: the object gets more pixels
    expect(inside(c!)).toBe(true);
    expect(covers(c!, r)).toBe(true);
  });

  it('crops: two distant regions get two crops, each covering its region', () => {
    const a = { x: 0.02, y: 0.1, w: 0.05, h: 0.1 };
    const b = { x: 0.9, y: 0.8, w: 0.05, h: 0.1 };
    const plan = planCrops('crops', W, H, [a, b]);
    expect(plan).toHaveLength(2);
    expect(plan.some((c) => covers(c, a))).toBe(true);
    expect(plan.some((c) => covers(c, b))).toBe(true);
  });

  it('crops: never more than maxCrops, every region still covered', () => {
    const regions = [0.05, 0.3, 0.55, 0.8].flatMap((x) => [0.1, 0.7].map((y) => ({ x, y, w: 0.04, h: 0.08 })));
    const plan = planCrops('crops', W, H, regions);
    expect(plan.length).toBeLessThanOrEqual(DEFAULT_CROP_OPTIONS.maxCrops);
    for (const r of regions) expect(plan.some((c) => covers(c, r))).toBe(true);
    for (const c of plan) expect(inside(c)).toBe(true);
  });

  it('crops: a region wider than the frame is tall is covered by short-side squares, not one shrunken view', () => {
    const plan = planCrops('crops', W, H, [{ x: 0.1, y: 0.2, w: 0.8, h: 0.5 }]);
    expect(plan.length).toBe(2);
    for (const c of plan) {
      expect(c.w).toBe(H);
      expect(c.h).toBe(H);
    }
  });
});
