import { unionBox, type Box, type CropPlan } from './types.js';

/**
 * How frames are fed to the square detector.
 * - `squash`: whole frame stretched to the square (the reference code; people get thin and small).
 * - `letterbox`: whole frame scaled to fit, gray bars.
 * - `tiles`: overlapping squares along the long side (2 for 16:9), one inference each.
 * - `crops`: squares around the changed regions and the tracked objects (Frigate's regions).
 */
export type FeedMode = 'squash' | 'letterbox' | 'tiles' | 'crops';
export const FEED_MODES: readonly FeedMode[] = ['squash', 'letterbox', 'tiles', 'crops'];

export interface CropOptions {
  /** At most this many inferences per frame; more regions are merged into bigger crops. */
  maxCrops: number;
  /** Smallest crop side as a share of the frame's short side (small crops upscale tiny objects). */
  minSide: number;
  /** Region growth on every side, as a share of the region's larger dimension. */
  margin: number;
}

export const DEFAULT_CROP_OPTIONS: CropOptions = { maxCrops: 2, minSide: 0.5, margin: 0.25 };

/**
 * Plans crops in RGB-frame pixels. `regions` are frame-normalised boxes (changed regions and
 * tracked objects); they are only used by `crops` mode, which returns [] when there are none.
 */
export function planCrops(mode: FeedMode, width: number, height: number, regions: readonly Box[], opts: CropOptions = DEFAULT_CROP_OPTIONS): CropPlan[] {
  switch (mode) {
    case 'squash':
      return [{ x: 0, y: 0, w: width, h: height, fit: 'stretch' }];
    case 'letterbox':
      return [{ x: 0, y: 0, w: width, h: height, fit: 'letterbox' }];
    case 'tiles':
      return tiles(width, height);
    case 'crops':
      return regionCrops(width, height, regions, opts);
  }
}

function tiles(width: number, height: number): CropPlan[] {
  const side = Math.min(width, height);
  const long = Math.max(width, height);
  const n = Math.ceil(long / side);
  const out: CropPlan[] = [];
  for (let i = 0; i < n; i++) {
    const off = n === 1 ? 0 : Math.round(((long - side) * i) / (n - 1));
    out.push(width >= height ? { x: off, y: 0, w: side, h: side, fit: 'letterbox' } : { x: 0, y: off, w: side, h: side, fit: 'letterbox' });
  }
  return out;
}

/**
 * The area one (possibly merged) region needs: the region grown by the margin, at least
 * `minSide` square, clamped to the frame. Pixels.
 */
function needFor(region: Box, width: number, height: number, opts: CropOptions): CropPlan {
  const short = Math.min(width, height);
  const grow = 1 + 2 * opts.margin;
  const side = Math.max(opts.minSide * short, Math.max(region.w * width, region.h * height) * grow);
  const w = Math.min(width, Math.max(side, region.w * width * grow));
  const h = Math.min(height, Math.max(side, region.h * height * grow));
  const cx = (region.x + region.w / 2) * width;
  const cy = (region.y + region.h / 2) * height;
  const x = Math.max(0, Math.min(width - w, cx - w / 2));
  const y = Math.max(0, Math.min(height - h, cy - h / 2));
  return { x: Math.round(x), y: Math.round(y), w: Math.round(w), h: Math.round(h), fit: 'letterbox' };
}

/**
 * Squares covering a needed area. Small areas get one square (upscaled if below the model
 * size: that is the point — small and distant objects get more pixels). Areas larger than the
 * frame's short side are covered by short-side squares side by side rather than one shrunken
 * rectangle: never look at anything at a coarser scale than the tiles would.
 */
function squaresFor(need: CropPlan, width: number, height: number): CropPlan[] {
  const short = Math.min(width, height);
  const side = Math.min(short, Math.max(need.w, need.h));
  const alongX = need.w >= need.h;
  const long = alongX ? need.w : need.h;
  // Up to 20 % longer than a square: one mildly shrunk, letterboxed look beats two nearly
  // identical squares (and costs half the inferences).
  const n = Math.max(1, Math.ceil(long / side - 0.2));
  if (n === 1 && long > side) return [need];
  const out: CropPlan[] = [];
  for (let i = 0; i < n; i++) {
    const off = n === 1 ? (long - side) / 2 : ((long - side) * i) / (n - 1);
    const cx = alongX ? need.x + off + side / 2 : need.x + need.w / 2;
    const cy = alongX ? need.y + need.h / 2 : need.y + off + side / 2;
    const x = Math.max(0, Math.min(width - side, cx - side / 2));
    const y = Math.max(0, Math.min(height - side, cy - side / 2));
    out.push({ x: Math.round(x), y: Math.round(y), w: Math.round(side), h: Math.round(side), fit: 'letterbox' });
  }
  return out;
}

function cropOverlap(a: CropPlan, b: CropPlan): number {
  const ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (ix <= 0 || iy <= 0) return 0;
  // Share of the smaller area that the other covers: an area mostly inside another is redundant.
  return (ix * iy) / Math.min(a.w * a.h, b.w * b.h);
}

function regionCrops(width: number, height: number, regions: readonly Box[], opts: CropOptions): CropPlan[] {
  const budget = Math.max(1, opts.maxCrops);
  let groups = regions.filter((r) => r.w > 0 && r.h > 0).map((r) => ({ ...r }));
  if (groups.length === 0) return [];
  // Merge regions whose needed areas mostly overlap: one look sees both.
  let merged = true;
  while (merged && groups.length > 1) {
    merged = false;
    outer: for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        if (cropOverlap(needFor(groups[i]!, width, height, opts), needFor(groups[j]!, width, height, opts)) > 0.5) {
          groups[i] = unionBox(groups[i]!, groups[j]!);
          groups.splice(j, 1);
          merged = true;
          break outer;
        }
      }
    }
  }
  const count = (gs: Box[]): number => gs.reduce((a, g) => a + squaresFor(needFor(g, width, height, opts), width, height).length, 0);
  // Over budget: merge the pair whose union is smallest until it fits.
  while (groups.length > 1 && count(groups) > budget) {
    let best = { i: 0, j: 1, area: Infinity };
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        const u = unionBox(groups[i]!, groups[j]!);
        if (u.w * u.h < best.area) best = { i, j, area: u.w * u.h };
      }
    }
    groups[best.i] = unionBox(groups[best.i]!, groups[best.j]!);
    groups.splice(best.j, 1);
  }
  groups = groups.sort((a, b) => b.w * b.h - a.w * a.h);
  const plans = groups.flatMap((g) => squaresFor(needFor(g, width, height, opts), width, height));
  // Only a frame wider than `budget` squares can still exceed it: then one letterboxed look.
  if (plans.length > budget) return [needFor(groups[0]!, width, height, opts)];
  return plans;
}

/** Crop rectangle as a frame-normalised box (what the tracker needs to know was looked at). */
export function cropToBox(c: CropPlan, width: number, height: number): Box {
  return { x: c.x / width, y: c.y / height, w: c.w / width, h: c.h / height };
}
