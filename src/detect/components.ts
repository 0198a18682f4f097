/**
 * Binary-mask helpers for the change detector: 3x3 dilation and 8-connected component
 * labelling with per-component statistics. Plain loops over typed arrays, buffers reused
 * between frames (the caller owns a `Labeller` per resolution), so a frame allocates nothing.
 */

export interface Component {
  /** Bounding box in pixels (inclusive-exclusive). */
  x: number;
  y: number;
  w: number;
  h: number;
  /** Pixels of the (dilated) component. */
  pixels: number;
  /** Pixels that were changed before dilation, and their summed absolute difference. */
  changed: number;
  diffSum: number;
}

/** out = 3x3 max of mask (separable: rows then columns). */
export function dilate3(mask: Uint8Array, out: Uint8Array, tmp: Uint8Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const r = y * width;
    for (let x = 0; x < width; x++) {
      const i = r + x;
      tmp[i] = mask[i]! | (x > 0 ? mask[i - 1]! : 0) | (x + 1 < width ? mask[i + 1]! : 0);
    }
  }
  for (let y = 0; y < height; y++) {
    const r = y * width;
    for (let x = 0; x < width; x++) {
      const i = r + x;
      out[i] = tmp[i]! | (y > 0 ? tmp[i - width]! : 0) | (y + 1 < height ? tmp[i + width]! : 0);
    }
  }
}

export class Labeller {
  private readonly labels: Int32Array;
  private readonly parent: Int32Array;
  private readonly minX: Int32Array;
  private readonly minY: Int32Array;
  private readonly maxX: Int32Array;
  private readonly maxY: Int32Array;
  private readonly pixels: Int32Array;
  private readonly changed: Int32Array;
  private readonly diffSum: Float64Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    const n = width * height;
    // Worst case (checkerboard) needs one provisional label per two pixels, plus label 0.
    const cap = (n >> 1) + 2;
    this.labels = new Int32Array(n);
    this.parent = new Int32Array(cap);
    this.minX = new Int32Array(cap);
    this.minY = new Int32Array(cap);
    this.maxX = new Int32Array(cap);
    this.maxY = new Int32Array(cap);
    this.pixels = new Int32Array(cap);
    this.changed = new Int32Array(cap);
    this.diffSum = new Float64Array(cap);
  }

  private find(a: number): number {
    const p = this.parent;
    let r = a;
    while (p[r]! !== r) r = p[r]!;
    while (p[a]! !== r) {
      const next = p[a]!;
      p[a] = r;
      a = next;
    }
    return r;
  }

  private union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return ra;
    const lo = ra < rb ? ra : rb;
    this.parent[ra < rb ? rb : ra] = lo;
    return lo;
  }

  /**
   * Labels `mask` (8-connectivity) and returns components with at least `minChanged` changed
   * pixels. `changedMask`/`absDiff` give the pre-dilation pixels and their differences.
   */
  label(mask: Uint8Array, changedMask: Uint8Array, absDiff: Uint8Array, minChanged: number): Component[] {
    const { width: w, height: h, labels, parent } = this;
    let next = 1;
    for (let y = 0; y < h; y++) {
      const r = y * w;
      for (let x = 0; x < w; x++) {
        const i = r + x;
        if (!mask[i]) {
          labels[i] = 0;
          continue;
        }
        // Neighbours already visited: W, NW, N, NE.
        let l = x > 0 ? labels[i - 1]! : 0;
        if (y > 0) {
          const up = i - w;
          const nw = x > 0 ? labels[up - 1]! : 0;
          const n = labels[up]!;
          const ne = x + 1 < w ? labels[up + 1]! : 0;
          if (nw !== 0) l = l === 0 ? nw : l === nw ? l : this.union(l, nw);
          if (n !== 0) l = l === 0 ? n : l === n ? l : this.union(l, n);
          if (ne !== 0) l = l === 0 ? ne : l === ne ? l : this.union(l, ne);
        }
        if (l === 0) {
          l = next++;
          parent[l] = l;
        }
        labels[i] = l;
      }
    }
    const { minX, minY, maxX, maxY, pixels, changed, diffSum } = this;
    for (let l = 1; l < next; l++) {
      minX[l] = w;
      minY[l] = h;
      maxX[l] = -1;
      maxY[l] = -1;
      pixels[l] = 0;
      changed[l] = 0;
      diffSum[l] = 0;
    }
    for (let y = 0; y < h; y++) {
      const r = y * w;
      for (let x = 0; x < w; x++) {
        const i = r + x;
        const l0 = labels[i]!;
        if (l0 === 0) continue;
        const l = this.find(l0);
        if (x < minX[l]!) minX[l] = x;
        if (x > maxX[l]!) maxX[l] = x;
        if (y < minY[l]!) minY[l] = y;
        if (y > maxY[l]!) maxY[l] = y;
        pixels[l]!++;
        if (changedMask[i]) {
          changed[l]!++;
          diffSum[l] = diffSum[l]! + absDiff[i]!;
        }
      }
    }
    const out: Component[] = [];
    for (let l = 1; l < next; l++) {
      if (parent[l] !== l || changed[l]! < minChanged || changed[l]! === 0) continue;
      out.push({
        x: minX[l]!,
        y: minY[l]!,
        w: maxX[l]! - minX[l]! + 1,
        h: maxY[l]! - minY[l]! + 1,
        pixels: pixels[l]!,
        changed: changed[l]!,
        diffSum: diffSum[l]!,
      });
    }
    return out.sort((a, b) => b.changed - a.changed);
  }
}
