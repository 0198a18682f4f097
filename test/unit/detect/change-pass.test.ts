import { describe, expect, it } from 'vitest';
import { thresholdPass } from '../../../src/detect/change.js';
import { rng } from './scene.js';

/**
 * The change detector's per-pixel pass was rewritten for speed (row loops, threshold moved onto
 * the raw difference). This is the previous version, verbatim, as the reference: the new one
 * must give the same count, cells, background and changed-for counters bit for bit.
 */
function referencePass(
  src: Uint8Array, bg: Float32Array, changedFor: Uint16Array, colCell: Int32Array, cellCount: Int32Array, cellSum: Float32Array,
  width: number, cell: number, gw: number, offset: number, thr: number, quietAlpha: number, a: number, ab: number, absorbAfter: number,
): number {
  const n = bg.length;
  let count = 0;
  let x = 0;
  let y = 0;
  let cellRow = 0;
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    const b = bg[i]!;
    const d = v - b - offset;
    if (d > thr || d < -thr) {
      count++;
      const c = cellRow + colCell[x]!;
      cellCount[c]!++;
      cellSum[c] = cellSum[c]! + (d < 0 ? -d : d);
      if (quietAlpha >= 0) {
        bg[i] = b + quietAlpha * (v - b);
      } else {
        const k = changedFor[i]!;
        if (k < absorbAfter) changedFor[i] = k + 1;
        else bg[i] = b + ab * (v - b);
      }
    } else {
      bg[i] = b + a * (v - b);
      changedFor[i] = 0;
    }
    if (++x === width) {
      x = 0;
      y++;
      cellRow = ((y / cell) | 0) * gw;
    }
  }
  return count;
}

interface PassState {
  bg: Float32Array;
  changedFor: Uint16Array;
  cellCount: Int32Array;
  cellSum: Float32Array;
}

describe('change detector pixel pass', () => {
  it.each([
    [352, 198, 4],
    [160, 90, 2],
    [37, 23, 3], // width not a multiple of the cell
  ])('matches the previous implementation bit for bit at %ix%i', (width, height, cell) => {
    const rand = rng(width * height);
    const n = width * height;
    const gw = Math.ceil(width / cell);
    const gh = Math.ceil(height / cell);
    const colCell = Int32Array.from({ length: width }, (_, x) => (x / cell) | 0);
    const make = (): PassState => ({ bg: new Float32Array(n), changedFor: new Uint16Array(n), cellCount: new Int32Array(gw * gh), cellSum: new Float32Array(gw * gh) });
    const ref = make();
    const got = make();
    for (let i = 0; i < n; i++) ref.bg[i] = got.bg[i] = Math.fround(rand() * 255);
    let changedTotal = 0;
    for (let frame = 0; frame < 40; frame++) {
      // Background-ish frames with a bright block moving through, an exposure offset now and
      // then, and calibration (quietAlpha >= 0) every 10th frame: every branch of the pass.
      const src = new Uint8Array(n);
      for (let i = 0; i < n; i++) src[i] = Math.max(0, Math.min(255, Math.round(ref.bg[i]! + (rand() - 0.5) * 60)));
      for (let y = 5; y < Math.min(height, 20); y++) for (let x = frame; x < Math.min(width, frame + 12); x++) src[y * width + x] = 250;
      const offset = frame % 7 === 3 ? 9 : frame % 5 === 0 ? -4 : 0;
      const thr = [10, 25, 40][frame % 3]!;
      const quiet = frame % 10 === 9 ? 0.2 : -1;
      ref.cellCount.fill(0);
      ref.cellSum.fill(0);
      got.cellCount.fill(0);
      got.cellSum.fill(0);
      const a = referencePass(src, ref.bg, ref.changedFor, colCell, ref.cellCount, ref.cellSum, width, cell, gw, offset, thr, quiet, 0.02, 0.1, 5);
      const b = thresholdPass(src, got.bg, got.changedFor, colCell, got.cellCount, got.cellSum, width, cell, gw, offset, thr, quiet, 0.02, 0.1, 5);
      expect(b).toBe(a);
      // Element loops: vitest's deep equality on 70k-element typed arrays takes seconds.
      const differ = (x: ArrayLike<number>, y: ArrayLike<number>): number => {
        let k = 0;
        for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) k++;
        return k + Math.abs(x.length - y.length);
      };
      expect(differ(got.bg, ref.bg), `bg, frame ${frame}`).toBe(0);
      expect(differ(got.changedFor, ref.changedFor), `changedFor, frame ${frame}`).toBe(0);
      expect(differ(got.cellCount, ref.cellCount), `cellCount, frame ${frame}`).toBe(0);
      expect(differ(got.cellSum, ref.cellSum), `cellSum, frame ${frame}`).toBe(0);
      changedTotal += a;
    }
    // The data must exercise the changed branch too, or the comparison proves little.
    expect(changedTotal).toBeGreaterThan(n);
  });
});
