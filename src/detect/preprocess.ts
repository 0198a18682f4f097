import type { Box, CropPlan, RgbFrame } from './types.js';
import type { RawDetection } from './fastestdet.js';

/**
 * Turns a rectangle of an RGB24 frame into the model input: float32, planar (NCHW), values
 * 0..1, channel order **B, G, R**. The brief said RGB, but FastestDet was trained and is run by
 * its author on OpenCV images (`cv2.imread` → BGR, see `utils/datasets.py`, `test.py`), and the
 * stills confirm it: fed RGB, giraffe.jpg scores "zebra"; fed BGR, "giraffe".
 *
 * Resampling is bilinear with OpenCV's pixel-centre convention (INTER_LINEAR, what training
 * used). Letterbox padding is gray 128, the fill the author's augmentation (`random_narrow`) uses,
 * so padded borders look like something the network has seen.
 */
export const PAD_VALUE = 128 / 255;

/** Where the source rectangle lands inside the square input, in input pixels. */
export interface Placement {
  dx: number;
  dy: number;
  dw: number;
  dh: number;
}

export function placementFor(crop: CropPlan, size: number): Placement {
  if (crop.fit === 'stretch') return { dx: 0, dy: 0, dw: size, dh: size };
  const scale = size / Math.max(crop.w, crop.h);
  const dw = Math.max(1, Math.min(size, Math.round(crop.w * scale)));
  const dh = Math.max(1, Math.min(size, Math.round(crop.h * scale)));
  return { dx: Math.floor((size - dw) / 2), dy: Math.floor((size - dh) / 2), dw, dh };
}

/** Per-axis source taps for bilinear resampling: two indices and the weight of the second. */
export interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  w: Float32Array;
}

/** Exported for the SIMD version (resize-simd.ts), which must resample exactly alike. */
export function resampleTaps(srcStart: number, srcLen: number, dstLen: number, limit: number): Taps {
  return taps(srcStart, srcLen, dstLen, limit);
}

function taps(srcStart: number, srcLen: number, dstLen: number, limit: number): Taps {
  const i0 = new Int32Array(dstLen);
  const i1 = new Int32Array(dstLen);
  const w = new Float32Array(dstLen);
  const scale = srcLen / dstLen;
  for (let d = 0; d < dstLen; d++) {
    let s = (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    const f = Math.floor(s);
    const a = Math.min(srcStart + f, limit - 1);
    i0[d] = a;
    i1[d] = Math.min(a + 1, srcStart + srcLen - 1, limit - 1);
    w[d] = s - f;
  }
  return { i0, i1, w };
}

/**
 * Column tables of one resampling geometry, in the form the inner loop wants: byte offsets of
 * the two source pixels in a row, and both weights. Kept for the next call (the worker feeds
 * the same crop geometry frame after frame), along with the two horizontal-pass row buffers.
 */
interface ColumnTable {
  key: string;
  o0: Int32Array;
  o1: Int32Array;
  u: Float64Array;
  w: Float64Array;
}

let lastColumns: ColumnTable | null = null;
let rowA = new Float64Array(0);
let rowB = new Float64Array(0);

function columnTable(srcStart: number, srcLen: number, dstLen: number, limit: number): ColumnTable {
  const key = `${srcStart},${srcLen},${dstLen},${limit}`;
  if (lastColumns?.key === key) return lastColumns;
  const t = taps(srcStart, srcLen, dstLen, limit);
  const o0 = new Int32Array(dstLen);
  const o1 = new Int32Array(dstLen);
  const u = new Float64Array(dstLen);
  const w = new Float64Array(dstLen);
  for (let d = 0; d < dstLen; d++) {
    o0[d] = t.i0[d]! * 3;
    o1[d] = t.i1[d]! * 3;
    w[d] = t.w[d]!;
    u[d] = 1 - t.w[d]!;
  }
  lastColumns = { key, o0, o1, u, w };
  return lastColumns;
}

/**
 * Horizontal pass over one source row: `dst` gets the row resampled to `n` pixels, interleaved
 * B, G, R, unscaled (0..255), in float64 (float32 here would cost more in conversions).
 */
function resampleRow(src: Uint8Array, row: number, c: ColumnTable, n: number, dst: Float64Array): void {
  const { o0, o1, u, w } = c;
  for (let x = 0, j = 0; x < n; x++, j += 3) {
    const a = row + o0[x]!;
    const b = row + o1[x]!;
    const ua = u[x]!;
    const wb = w[x]!;
    dst[j] = src[a + 2]! * ua + src[b + 2]! * wb;
    dst[j + 1] = src[a + 1]! * ua + src[b + 1]! * wb;
    dst[j + 2] = src[a]! * ua + src[b]! * wb;
  }
}

/**
 * Fills `out` (length 3 * size * size) with the crop. The crop is clamped to the frame first, so
 * a plan that slightly overhangs the border never reads outside the buffer.
 *
 * Bilinear is separable: each source row the output needs is resampled horizontally once (into
 * one of two row buffers, reused while consecutive output rows share source rows), then each
 * output row is the vertical blend of two such rows. Same value as the four-tap formula up to
 * float64 rounding, i.e. the float32 results match the plain four-tap version to within one ulp
 * (`test/unit/detect/preprocess.test.ts`, on a real frame).
 */
export function fillInput(frame: RgbFrame, crop: CropPlan, out: Float32Array, size: number): Placement {
  const plane = size * size;
  if (out.length !== 3 * plane) throw new Error(`input buffer has ${out.length} floats, expected ${3 * plane}`);
  if (frame.data.length < frame.width * frame.height * 3) throw new Error('RGB frame buffer is shorter than width*height*3');
  const c = clampCrop(crop, frame.width, frame.height);
  const pl = placementFor(c, size);
  if (pl.dw < size || pl.dh < size) out.fill(PAD_VALUE);
  const n = pl.dw;
  const cols = columnTable(c.x, c.w, n, frame.width);
  const ys = taps(c.y, c.h, pl.dh, frame.height);
  // Always a plain Uint8Array view: a Node Buffer here would make the inner loop polymorphic.
  const src = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length);
  const stride = frame.width * 3;
  const o = pl.dy * size + pl.dx;
  // Separable wins when output rows share source rows (upscaling, ~1:1); when the crop shrinks
  // vertically most source rows would be resampled for one output row only: four taps instead.
  if (ys.i1[pl.dh - 1]! - ys.i0[0]! + 1 <= pl.dh * 1.1) separable(src, stride, cols, ys, n, pl.dh, out, o, size);
  else fourTap(src, stride, cols, ys, n, pl.dh, out, o, size);
  return pl;
}

function separable(src: Uint8Array, stride: number, cols: ColumnTable, ys: Taps, n: number, rows: number, out: Float32Array, start: number, size: number): void {
  const plane = size * size;
  const k = 1 / 255;
  if (rowA.length < 3 * n) {
    rowA = new Float64Array(3 * n);
    rowB = new Float64Array(3 * n);
  }
  let h0 = rowA;
  let h1 = rowB;
  let row0 = -1;
  let row1 = -1;
  for (let dy = 0; dy < rows; dy++) {
    const s0 = ys.i0[dy]!;
    const s1 = ys.i1[dy]!;
    if (s0 !== row0) {
      if (s0 === row1) {
        const t = h0;
        h0 = h1;
        h1 = t;
        row1 = row0;
      } else resampleRow(src, s0 * stride, cols, n, h0);
      row0 = s0;
    }
    if (s1 !== row1) {
      if (s1 === row0) {
        // Both taps on the same row (bottom edge): the second buffer gets a copy.
        h1.set(h0.subarray(0, 3 * n));
      } else resampleRow(src, s1 * stride, cols, n, h1);
      row1 = s1;
    }
    const wy = ys.w[dy]!;
    const a = (1 - wy) * k;
    const b = wy * k;
    const o = start + dy * size;
    const og = plane + o;
    const or = 2 * plane + o;
    for (let x = 0, j = 0; x < n; x++, j += 3) {
      out[o + x] = h0[j]! * a + h1[j]! * b;
      out[og + x] = h0[j + 1]! * a + h1[j + 1]! * b;
      out[or + x] = h0[j + 2]! * a + h1[j + 2]! * b;
    }
  }
}

/** Four taps per output pixel (the reference formula), with the column tables precomputed. */
function fourTap(src: Uint8Array, stride: number, cols: ColumnTable, ys: Taps, n: number, rows: number, out: Float32Array, start: number, size: number): void {
  const plane = size * size;
  const k = 1 / 255;
  const { o0, o1, u, w } = cols;
  for (let dy = 0; dy < rows; dy++) {
    const r0 = ys.i0[dy]! * stride;
    const r1 = ys.i1[dy]! * stride;
    const wy = ys.w[dy]!;
    const vy = 1 - wy;
    const o = start + dy * size;
    const og = plane + o;
    const or = 2 * plane + o;
    for (let x = 0; x < n; x++) {
      const c0 = o0[x]!;
      const c1 = o1[x]!;
      const ux = u[x]!;
      const wx = w[x]!;
      const w00 = ux * vy;
      const w01 = wx * vy;
      const w10 = ux * wy;
      const w11 = wx * wy;
      const a = r0 + c0;
      const b = r0 + c1;
      const d = r1 + c0;
      const e = r1 + c1;
      out[o + x] = (src[a + 2]! * w00 + src[b + 2]! * w01 + src[d + 2]! * w10 + src[e + 2]! * w11) * k;
      out[og + x] = (src[a + 1]! * w00 + src[b + 1]! * w01 + src[d + 1]! * w10 + src[e + 1]! * w11) * k;
      out[or + x] = (src[a]! * w00 + src[b]! * w01 + src[d]! * w10 + src[e]! * w11) * k;
    }
  }
}

/** Integer crop inside the frame, at least 1x1. */
export function clampCrop(crop: CropPlan, width: number, height: number): CropPlan {
  const x = Math.max(0, Math.min(width - 1, Math.round(crop.x)));
  const y = Math.max(0, Math.min(height - 1, Math.round(crop.y)));
  const w = Math.max(1, Math.min(width - x, Math.round(crop.w)));
  const h = Math.max(1, Math.min(height - y, Math.round(crop.h)));
  return { x, y, w, h, fit: crop.fit };
}

/**
 * Maps a decoded box (model-input normalised) back to frame-normalised coordinates, clipped to
 * the crop's own rectangle: what lies in the padding or beyond the crop was never seen.
 */
export function toFrameBox(d: RawDetection, crop: CropPlan, pl: Placement, size: number, width: number, height: number): Box {
  const sx = crop.w / pl.dw;
  const sy = crop.h / pl.dh;
  const fx = (v: number): number => Math.min(crop.x + crop.w, Math.max(crop.x, crop.x + (v * size - pl.dx) * sx));
  const fy = (v: number): number => Math.min(crop.y + crop.h, Math.max(crop.y, crop.y + (v * size - pl.dy) * sy));
  const x1 = fx(d.x1);
  const x2 = fx(d.x2);
  const y1 = fy(d.y1);
  const y2 = fy(d.y2);
  return { x: x1 / width, y: y1 / height, w: (x2 - x1) / width, h: (y2 - y1) / height };
}
