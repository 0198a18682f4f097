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
function taps(srcStart: number, srcLen: number, dstLen: number, limit: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
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
 * Fills `out` (length 3 * size * size) with the crop. The crop is clamped to the frame first, so
 * a plan that slightly overhangs the border never reads outside the buffer.
 */
export function fillInput(frame: RgbFrame, crop: CropPlan, out: Float32Array, size: number): Placement {
  const plane = size * size;
  if (out.length !== 3 * plane) throw new Error(`input buffer has ${out.length} floats, expected ${3 * plane}`);
  if (frame.data.length < frame.width * frame.height * 3) throw new Error('RGB frame buffer is shorter than width*height*3');
  const c = clampCrop(crop, frame.width, frame.height);
  const pl = placementFor(c, size);
  if (pl.dw < size || pl.dh < size) out.fill(PAD_VALUE);
  const xs = taps(c.x, c.w, pl.dw, frame.width);
  const ys = taps(c.y, c.h, pl.dh, frame.height);
  const src = frame.data;
  const stride = frame.width * 3;
  const k = 1 / 255;
  for (let dy = 0; dy < pl.dh; dy++) {
    const r0 = ys.i0[dy]! * stride;
    const r1 = ys.i1[dy]! * stride;
    const wy = ys.w[dy]!;
    let o = (pl.dy + dy) * size + pl.dx;
    for (let dx = 0; dx < pl.dw; dx++, o++) {
      const c0 = xs.i0[dx]! * 3;
      const c1 = xs.i1[dx]! * 3;
      const wx = xs.w[dx]!;
      const w00 = (1 - wx) * (1 - wy);
      const w01 = wx * (1 - wy);
      const w10 = (1 - wx) * wy;
      const w11 = wx * wy;
      const a = r0 + c0;
      const b = r0 + c1;
      const d = r1 + c0;
      const e = r1 + c1;
      // Source is R,G,B; planes are written B,G,R (see the file comment).
      out[o] = (src[a + 2]! * w00 + src[b + 2]! * w01 + src[d + 2]! * w10 + src[e + 2]! * w11) * k;
      out[plane + o] = (src[a + 1]! * w00 + src[b + 1]! * w01 + src[d + 1]! * w10 + src[e + 1]! * w11) * k;
      out[2 * plane + o] = (src[a]! * w00 + src[b]! * w01 + src[d]! * w10 + src[e]! * w11) * k;
    }
  }
  return pl;
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
