import { GridLabeller } from './components.js';
import type { Box, GrayFrame } from './types.js';

/**
 * Image-change detector on a small gray frame, after Frigate's `improved_motion.py`:
 * blur → difference against a running-average background → threshold → connected
 * components (on a grid of small cells, which also does the job of Frigate's dilation) →
 * minimum area. Additions, each for a reason:
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
  /**
   * 3x3 box blur before differencing (Frigate's light blur). Costs about as much again as the
   * rest, but without it H.264 ringing around high-contrast edges (road markings in the car
   * clip) shows up as small persistent "changes" that keep the object detector busy.
   */
  blur: boolean;
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
  blur: true,
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

/** Cell side for the component grid: about 80 cells across whatever the frame width. */
function cellSize(width: number): number {
  return Math.max(1, Math.round(width / 80));
}

export class ChangeDetector {
  private opts: ChangeOptions;
  private width = 0;
  private height = 0;
  private bg = new Float32Array(0);
  private cur = new Uint8Array(0);
  private rowSum = new Uint16Array(0);
  /** Consecutive frames each pixel has been changed (saturating). */
  private changedFor = new Uint16Array(0);
  private frameMs = 0;
  private colCell = new Int32Array(0);
  private cellCount = new Int32Array(0);
  private cellSum = new Float32Array(0);
  private readonly hist = new Uint32Array(511);
  private labeller: GridLabeller | null = null;
  private cell = 1;
  private lastTs = 0;
  private calibrating = false;
  private settleUntil = -Infinity;
  private flashing = false;
  private prevCandidates: Box[] = [];

  constructor(opts: Partial<ChangeOptions> = {}) {
    this.opts = { ...DEFAULT_CHANGE_OPTIONS, ...opts };
  }

  setOptions(opts: Partial<ChangeOptions>): void {
    this.opts = { ...this.opts, ...opts };
  }

  /**
   * The daemon switched a light (spotlight, strobe, IR): ignore what that does to the image.
   * `flashing` true = the strobes flash from now on: ignored until a `flashing` false, then for
   * `settleMs` more (a flash pattern re-lights the scene several times a second; settling on the
   * first switch alone let a frame caught between flashes through as a change).
   */
  notifyLightChange(ts: number, flashing?: boolean): void {
    if (flashing !== undefined) this.flashing = flashing;
    const after = ts + this.opts.settleMs;
    const before = this.settleUntil === Infinity ? -Infinity : this.settleUntil;
    this.settleUntil = this.flashing ? Infinity : Math.max(before, after);
  }

  reset(): void {
    this.width = 0;
  }

  process(frame: GrayFrame, ts: number): ChangeResult {
    const { width, height } = frame;
    if (frame.data.length < width * height) throw new Error('gray frame buffer is shorter than width*height');
    if (width !== this.width || height !== this.height) {
      this.allocate(width, height);
      if (this.opts.blur) blur3(frame.data, this.cur, this.rowSum, width, height);
      const src = this.opts.blur ? this.cur : frame.data;
      for (let i = 0; i < width * height; i++) this.bg[i] = src[i]!;
      this.lastTs = ts;
      return { regions: [], changedFraction: 0, state: 'warmup' };
    }
    const n = width * height;
    const o = this.opts;
    const dt = Math.min(2000, Math.max(0, ts - this.lastTs));
    this.lastTs = ts;
    let src = frame.data;
    if (o.blur) {
      blur3(frame.data, this.cur, this.rowSum, width, height);
      src = this.cur;
    }
    const { bg, changedFor, hist, colCell, cellCount, cellSum } = this;

    // Exposure: the median difference over a sparse sample is the global brightness step.
    // The same sample also estimates how much changed *before* compensation.
    hist.fill(0);
    let samples = 0;
    let rawChanged = 0;
    const thr = o.pixelThreshold;
    for (let i = 0; i < n; i += 7) {
      const d = src[i]! - bg[i]!;
      hist[(d + 255.5) | 0]!++;
      if (d > thr || d < -thr) rawChanged++;
      samples++;
    }
    const offset = histMedian(hist, samples) - 255;

    // One pass: threshold, count per cell, update the background. The mode is decided from
    // the state before this frame; a light change found by this frame is handled below.
    const quiet = ts < this.settleUntil || this.calibrating;
    const a = alpha(dt, quiet ? o.calibrateMs : o.backgroundMs);
    const ab = alpha(dt, o.absorbMs);
    // Frames a pixel must stay changed before it is absorbed (time-based via the frame interval).
    this.frameMs = this.frameMs === 0 ? dt : this.frameMs + 0.1 * (dt - this.frameMs);
    const absorbAfter = Math.min(65535, Math.max(1, Math.round(o.absorbAfterMs / Math.max(1, this.frameMs))));
    const gw = this.labeller!.gw;
    cellCount.fill(0);
    cellSum.fill(0);
    const count = thresholdPass(src, bg, changedFor, colCell, cellCount, cellSum, width, this.cell, gw, offset, thr, quiet ? a : -1, a, ab, absorbAfter);
    const changedFraction = count / n;
    // A light change: most of the frame changed and it is not just an exposure step. The
    // compensation turns "70 % got brighter" into "the other 30 % got darker", so when the raw
    // change is large, a compensated change of half the limit already counts; an exposure
    // step with a car in view (raw large, compensated ~15 %) does not.
    const raw = rawChanged / samples;
    const lim = o.lightChangeFraction;
    const lightChange = changedFraction > lim || (raw > lim && changedFraction > lim / 2);
    if (lightChange && !this.calibrating) {
      this.calibrating = true;
      // Start adapting at once: the whole frame is the new normal.
      const fast = alpha(dt, o.calibrateMs);
      for (let i = 0; i < n; i++) bg[i] = bg[i]! + fast * (src[i]! - bg[i]!);
    } else if (this.calibrating && changedFraction < 0.05) {
      this.calibrating = false;
    }
    if (quiet || this.calibrating) {
      if (quiet) changedFor.fill(0);
      this.prevCandidates = [];
      return { regions: [], changedFraction, state: ts < this.settleUntil ? 'settling' : 'calibrating' };
    }
    if (count === 0) {
      this.prevCandidates = [];
      return { regions: [], changedFraction, state: 'ok' };
    }

    const minChanged = Math.max(1, Math.ceil(o.minAreaFraction * n));
    const cs = this.cell;
    const candidates: ChangeRegion[] = this.labeller!.label(cellCount, cellSum, minChanged).map((c) => {
      const x0 = c.x * cs;
      const y0 = c.y * cs;
      const x1 = Math.min(width, (c.x + c.w) * cs);
      const y1 = Math.min(height, (c.y + c.h) * cs);
      return {
        box: { x: x0 / width, y: y0 / height, w: (x1 - x0) / width, h: (y1 - y0) / height },
        areaFraction: c.changed / n,
        meanDiff: c.diffSum / c.changed,
      };
    });
    // Persistence: something real is still there one frame later; a raindrop is not.
    const prev = this.prevCandidates;
    const padX = cs / width;
    const padY = cs / height;
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
    this.changedFor = new Uint16Array(n);
    this.frameMs = 0;
    this.cell = cellSize(width);
    const gw = Math.ceil(width / this.cell);
    const gh = Math.ceil(height / this.cell);
    this.colCell = new Int32Array(width);
    for (let x = 0; x < width; x++) this.colCell[x] = (x / this.cell) | 0;
    this.cellCount = new Int32Array(gw * gh);
    this.cellSum = new Float32Array(gw * gh);
    this.labeller = new GridLabeller(gw, gh);
    this.calibrating = false;
    this.prevCandidates = [];
  }
}

/**
 * The per-pixel hot loop, kept small and monomorphic so V8 optimises it well: threshold the
 * exposure-compensated difference, count changed pixels per cell, update the background.
 * `quietAlpha >= 0` means calibrating/settling: every pixel blends at that rate.
 *
 * Row by row, with the cell row computed once per row and the threshold moved onto the raw
 * difference (`v - b` against `offset ± thr`): 5–15 % less time than one flat loop with a running
 * column. Same results bit for bit for integer thresholds (all `sensitivity.ts` produces): `v`
 * and `offset` are integers and `b` a float32, so `v - b`, `v - b - offset` and `offset ± thr`
 * are exact in float64 and both comparisons decide alike (test/unit/detect/change-pass.test.ts).
 */
export function thresholdPass(
  src: Uint8Array, bg: Float32Array, changedFor: Uint16Array, colCell: Int32Array, cellCount: Int32Array, cellSum: Float32Array,
  width: number, cell: number, gw: number, offset: number, thr: number, quietAlpha: number, a: number, ab: number, absorbAfter: number,
): number {
  const height = (bg.length / width) | 0;
  const lo = offset - thr;
  const hi = offset + thr;
  let count = 0;
  for (let y = 0, r = 0; y < height; y++, r += width) {
    const cellRow = ((y / cell) | 0) * gw;
    for (let x = 0; x < width; x++) {
      const i = r + x;
      const v = src[i]!;
      const b = bg[i]!;
      const e = v - b;
      if (e > hi || e < lo) {
        const d = e - offset;
        count++;
        const c = cellRow + colCell[x]!;
        cellCount[c]!++;
        cellSum[c] = cellSum[c]! + (d < 0 ? -d : d);
        if (quietAlpha >= 0) {
          bg[i] = b + quietAlpha * e;
        } else {
          const k = changedFor[i]!;
          if (k < absorbAfter) changedFor[i] = k + 1;
          else bg[i] = b + ab * e;
        }
      } else {
        bg[i] = b + a * e;
        changedFor[i] = 0;
      }
    }
  }
  return count;
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

/** 3x3 box blur (edges replicate), integer maths: sum * 3641 >> 15 ≈ sum / 9. Edge cases are
 * handled outside the inner loops, which keeps those loops branch-free. */
export function blur3(src: Uint8Array, out: Uint8Array, rowSum: Uint16Array, width: number, height: number): void {
  const n = width * height;
  if (width < 2 || height < 2) {
    out.set(src.subarray(0, n));
    return;
  }
  for (let r = 0; r < n; r += width) {
    const e = r + width - 1;
    rowSum[r] = src[r]! * 2 + src[r + 1]!;
    let a = src[r]!;
    let b = src[r + 1]!;
    for (let i = r + 1; i < e; i++) {
      const c = src[i + 1]!;
      rowSum[i] = a + b + c;
      a = b;
      b = c;
    }
    rowSum[e] = src[e - 1]! + src[e]! * 2;
  }
  for (let x = 0; x < width; x++) out[x] = ((rowSum[x]! * 2 + rowSum[x + width]!) * 3641) >> 15;
  for (let i = width, e = n - width; i < e; i++) out[i] = ((rowSum[i - width]! + rowSum[i]! + rowSum[i + width]!) * 3641) >> 15;
  for (let i = n - width; i < n; i++) out[i] = ((rowSum[i - width]! + rowSum[i]! * 2) * 3641) >> 15;
}
