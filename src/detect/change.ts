import { dilate3, Labeller } from './components.js';
import type { Box, GrayFrame } from './types.js';

/**
 * Image-change detector on a small gray frame, after Frigate's `improved_motion.py`:
 * blur → difference against a running-average background → threshold → dilate → connected
 * components → minimum area. Additions, each for a reason:
 * - exposure compensation: the median frame−background difference is subtracted first, so an
 *   auto-exposure step (the car clip darkens when a white car enters) is not "change";
 * - light switch: when more than `lightChangeFraction` of the frame changes at once (IR or
 *   spotlight switching, clouds, PTZ moving) it recalibrates — fast background adaptation, no
 *   regions — until the frame is quiet again; `notifyLightChange()` does the same pre-emptively
 *   for `settleMs`, so the camera's own lights can never trigger it;
 * - absorption per pixel: a changed pixel only starts blending into the background after it
 *   has stayed changed for `absorbAfterMs` (a parked car fades in, a walking person does not);
 * - speckle (rain, snow, sensor noise): regions below the minimum area are dropped, and a
 *   region is only reported when it overlaps a candidate of the previous frame.
 * Time constants are in milliseconds of frame time, so results do not depend on the frame rate.
 */
export interface ChangeOptions {
  /** Gray levels (0..255) a blurred pixel must differ from the background. */
  pixelThreshold: number;
  /** Regions with fewer changed pixels than this share of the frame are speckle. */
  minAreaFraction: number;
  /** Time constant of the running average for unchanged pixels. */
  backgroundMs: number;
  /** A pixel changed this long starts to be absorbed into the background... */
  absorbAfterMs: number;
  /** ...with this time constant: a parked car or a ghost fades out within a few seconds. */
  absorbMs: number;
  /** Share of the frame that, changed at once, means a global light change. */
  lightChangeFraction: number;
  /** Quiet period after `notifyLightChange()`. */
  settleMs: number;
  /** Time constant of the background while calibrating or settling. */
  calibrateMs: number;
}

export const DEFAULT_CHANGE_OPTIONS: ChangeOptions = {
  pixelThreshold: 25,
  minAreaFraction: 0.002,
  backgroundMs: 5000,
  absorbAfterMs: 2000,
  absorbMs: 1000,
  lightChangeFraction: 0.5,
  settleMs: 3000,
  calibrateMs: 400,
};

export interface ChangeRegion {
  /** Normalised box of the region. */
  box: Box;
  /** Share of the frame's pixels that changed in this region. */
  areaFraction: number;
  /** Mean absolute difference (gray levels) of its changed pixels. */
  meanDiff: number;
}

export type ChangeState = 'warmup' | 'ok' | 'calibrating' | 'settling';

export interface ChangeResult {
  regions: ChangeRegion[];
  /** Share of the frame above threshold (before area filtering). */
  changedFraction: number;
  state: ChangeState;
}

export class ChangeDetector {
  private opts: ChangeOptions;
  private width = 0;
  private height = 0;
  private bg = new Float32Array(0);
  private cur = new Uint8Array(0);
  private rowSum = new Uint16Array(0);
  private mask = new Uint8Array(0);
  private dil = new Uint8Array(0);
  private tmp = new Uint8Array(0);
  private absDiff = new Uint8Array(0);
  private changedSince = new Float64Array(0);
  private readonly hist = new Uint32Array(511);
  private labeller: Labeller | null = null;
  private lastTs = 0;
  private calibrating = false;
  private settleUntil = -Infinity;
  private prevCandidates: Box[] = [];

  constructor(opts: Partial<ChangeOptions> = {}) {
    this.opts = { ...DEFAULT_CHANGE_OPTIONS, ...opts };
  }

  setOptions(opts: Partial<ChangeOptions>): void {
    this.opts = { ...this.opts, ...opts };
  }

  /** The daemon switched a light (spotlight, strobe, IR): ignore what that does to the image. */
  notifyLightChange(ts: number): void {
    this.settleUntil = Math.max(this.settleUntil, ts + this.opts.settleMs);
  }

  reset(): void {
    this.width = 0;
  }

  process(frame: GrayFrame, ts: number): ChangeResult {
    const { width, height } = frame;
    if (frame.data.length < width * height) throw new Error('gray frame buffer is shorter than width*height');
    if (width !== this.width || height !== this.height) {
      this.allocate(width, height);
      blur3(frame.data, this.cur, this.rowSum, width, height);
      for (let i = 0; i < this.cur.length; i++) this.bg[i] = this.cur[i]!;
      this.lastTs = ts;
      return { regions: [], changedFraction: 0, state: 'warmup' };
    }
    const n = width * height;
    const o = this.opts;
    const dt = Math.min(2000, Math.max(0, ts - this.lastTs));
    this.lastTs = ts;
    blur3(frame.data, this.cur, this.rowSum, width, height);
    const { bg, cur, mask, absDiff, changedSince, hist } = this;

    // Exposure: the median difference is the global brightness step; compensate it.
    hist.fill(0);
    for (let i = 0; i < n; i++) hist[(cur[i]! - bg[i]! + 255.5) | 0]!++;
    const offset = histMedian(hist, n) - 255;

    const thr = o.pixelThreshold;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(cur[i]! - bg[i]! - offset);
      const ch = d > thr ? 1 : 0;
      mask[i] = ch;
      absDiff[i] = d > 255 ? 255 : d;
      count += ch;
    }
    const changedFraction = count / n;
    const settling = ts < this.settleUntil;
    if (changedFraction > o.lightChangeFraction) this.calibrating = true;
    else if (this.calibrating && changedFraction < 0.05) this.calibrating = false;

    if (settling || this.calibrating) {
      const a = alpha(dt, o.calibrateMs);
      for (let i = 0; i < n; i++) {
        bg[i] = bg[i]! + a * (cur[i]! - bg[i]!);
        changedSince[i] = -1;
      }
      this.prevCandidates = [];
      return { regions: [], changedFraction, state: settling ? 'settling' : 'calibrating' };
    }

    const a = alpha(dt, o.backgroundMs);
    const ab = alpha(dt, o.absorbMs);
    for (let i = 0; i < n; i++) {
      if (!mask[i]) {
        bg[i] = bg[i]! + a * (cur[i]! - bg[i]!);
        changedSince[i] = -1;
      } else if (changedSince[i]! < 0) {
        changedSince[i] = ts;
      } else if (ts - changedSince[i]! >= o.absorbAfterMs) {
        bg[i] = bg[i]! + ab * (cur[i]! - bg[i]!);
      }
    }
    if (count === 0) {
      this.prevCandidates = [];
      return { regions: [], changedFraction, state: 'ok' };
    }

    dilate3(mask, this.dil, this.tmp, width, height);
    const minChanged = Math.max(1, Math.ceil(o.minAreaFraction * n));
    const comps = this.labeller!.label(this.dil, mask, absDiff, minChanged);
    const candidates: ChangeRegion[] = comps.map((c) => ({
      box: { x: c.x / width, y: c.y / height, w: c.w / width, h: c.h / height },
      areaFraction: c.changed / n,
      meanDiff: c.diffSum / c.changed,
    }));
    // Persistence: something real is still there one frame later; a raindrop is not.
    const prev = this.prevCandidates;
    const padX = 2 / width;
    const padY = 2 / height;
    const regions = candidates.filter((c) => prev.some((p) => overlaps(c.box, p, padX, padY)));
    this.prevCandidates = candidates.map((c) => c.box);
    return { regions, changedFraction, state: 'ok' };
  }

  private allocate(width: number, height: number): void {
    const n = width * height;
    this.width = width;
    this.height = height;
    this.bg = new Float32Array(n);
    this.cur = new Uint8Array(n);
    this.rowSum = new Uint16Array(n);
    this.mask = new Uint8Array(n);
    this.dil = new Uint8Array(n);
    this.tmp = new Uint8Array(n);
    this.absDiff = new Uint8Array(n);
    this.changedSince = new Float64Array(n).fill(-1);
    this.labeller = new Labeller(width, height);
    this.calibrating = false;
    this.prevCandidates = [];
  }
}

/** Blend factor for a step of `dt` ms with time constant `tau` ms. */
function alpha(dt: number, tau: number): number {
  return tau <= 0 ? 1 : 1 - Math.exp(-dt / tau);
}

function histMedian(hist: Uint32Array, n: number): number {
  const half = n / 2;
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    acc += hist[b]!;
    if (acc >= half) return b;
  }
  return 255;
}

function overlaps(a: Box, b: Box, padX: number, padY: number): boolean {
  return a.x - padX < b.x + b.w && b.x - padX < a.x + a.w && a.y - padY < b.y + b.h && b.y - padY < a.y + a.h;
}

/** 3x3 box blur (edges replicate), integer maths: sum * 3641 >> 15 ≈ sum / 9. */
export function blur3(src: Uint8Array, out: Uint8Array, rowSum: Uint16Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const r = y * width;
    for (let x = 0; x < width; x++) {
      const i = r + x;
      rowSum[i] = src[x > 0 ? i - 1 : i]! + src[i]! + src[x + 1 < width ? i + 1 : i]!;
    }
  }
  for (let y = 0; y < height; y++) {
    const up = (y > 0 ? y - 1 : y) * width;
    const r = y * width;
    const dn = (y + 1 < height ? y + 1 : y) * width;
    for (let x = 0; x < width; x++) out[r + x] = ((rowSum[up + x]! + rowSum[r + x]! + rowSum[dn + x]!) * 3641) >> 15;
  }
}
