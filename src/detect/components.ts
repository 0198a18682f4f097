/**
 * Connected components on a coarse grid of cells (e.g. 4x4 pixels at 352 wide). The change
 * detector counts changed pixels per cell while it thresholds, so labelling runs on ~80x45
 * cells instead of every pixel — and a cell with any changed pixel already joins fragments of
 * one object the way a dilation would, without a dilation pass. 8-connectivity, two-pass
 * union-find; buffers are allocated once per grid size, so a frame allocates nothing.
 */

export interface Component {
  /** Bounding box in cells (inclusive-exclusive). */
  x: number;
  y: number;
  w: number;
  h: number;
  /** Changed pixels in the component and their summed absolute difference. */
  changed: number;
  diffSum: number;
}

export class GridLabeller {
  private readonly labels: Int32Array;
  private readonly parent: Int32Array;
  private readonly minX: Int32Array;
  private readonly minY: Int32Array;
  private readonly maxX: Int32Array;
  private readonly maxY: Int32Array;
  private readonly changed: Int32Array;
  private readonly diffSum: Float64Array;

  constructor(
    readonly gw: number,
    readonly gh: number,
  ) {
    const n = gw * gh;
    // Worst case (checkerboard) needs one provisional label per two cells, plus label 0.
    const cap = (n >> 1) + 2;
    this.labels = new Int32Array(n);
    this.parent = new Int32Array(cap);
    this.minX = new Int32Array(cap);
    this.minY = new Int32Array(cap);
    this.maxX = new Int32Array(cap);
    this.maxY = new Int32Array(cap);
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
   * Labels the cells with `count > 0` and returns the components with at least `minChanged`
   * changed pixels, largest first.
   */
  label(count: Int32Array, sums: Float32Array, minChanged: number): Component[] {
    const { gw: w, gh: h, labels, parent } = this;
    let next = 1;
    for (let y = 0; y < h; y++) {
      const r = y * w;
      for (let x = 0; x < w; x++) {
        const i = r + x;
        if (count[i] === 0) {
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
    if (next === 1) return [];
    const { minX, minY, maxX, maxY, changed, diffSum } = this;
    for (let l = 1; l < next; l++) {
      minX[l] = w;
      minY[l] = h;
      maxX[l] = -1;
      maxY[l] = -1;
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
        changed[l] = changed[l]! + count[i]!;
        diffSum[l] = diffSum[l]! + sums[i]!;
      }
    }
    const out: Component[] = [];
    for (let l = 1; l < next; l++) {
      if (parent[l] !== l || changed[l]! < minChanged) continue;
      out.push({ x: minX[l]!, y: minY[l]!, w: maxX[l]! - minX[l]! + 1, h: maxY[l]! - minY[l]! + 1, changed: changed[l]!, diffSum: diffSum[l]! });
    }
    return out.sort((a, b) => b.changed - a.changed);
  }
}
