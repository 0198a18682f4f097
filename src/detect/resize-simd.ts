import type { CropPlan, RgbFrame } from './types.js';
import { clampCrop, PAD_VALUE, placementFor, resampleTaps, type Placement } from './preprocess.js';

/**
 * `fillInput()` (preprocess.ts) with its two inner loops in WebAssembly SIMD: the same separable
 * bilinear resampling (OpenCV pixel centres, edge clamping), BGR planar, 0..1, letterbox pad.
 * In V8 the JavaScript loops cost ~2 ms per 352x352 input on the dev box, about half an
 * inference; here one pixel's three channels are one f32x4, so an output pixel is two vector
 * multiply-adds per pass and three scalar stores.
 *
 * The module is a few hundred bytes, assembled below from its instructions (the project has no
 * WebAssembly toolchain, and a kernel this small does not warrant one). Its two functions:
 *
 *   hpass(src, tab, n, dst)   for x < n, with tab[x] = {o0: i32, o1: i32, u: f32, w: f32}:
 *                             dst[x] (f32x4) = u8x4(src + o0) * u + u8x4(src + o1) * w
 *   vpass(h0, h1, n, oB, oG, oR, a, b)
 *                             for x < n: v = h0[x] * a + h1[x] * b   (lanes R, G, B, next R)
 *                             oB[x] = v[2]; oG[x] = v[1]; oR[x] = v[0]
 *
 * Arithmetic is float32 (the JS version blends in float64 and rounds once), so values differ
 * from `fillInput()` by a few float32 ulps, < 1e-6 on 0..1 (test/unit/detect/preprocess.test.ts). Loading a
 * pixel reads 16 bytes from its first: the frame copy in wasm memory has 16 bytes of slack.
 */

const leb = (v: number): number[] => {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
};
const vec = (items: number[]): number[] => [...leb(items.length), ...items];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((c) => c.charCodeAt(0)));

// Instructions used (WebAssembly core + fixed-width SIMD opcodes).
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
// i32.const takes a signed LEB128; the unsigned encoding above is the same below 64 (we use 1, 2, 4).
const i32c = (v: number): number[] => [0x41, ...leb(v)];
const ADD = 0x6a;
const SHL = 0x74;
const GE_U = 0x4f;
const I32_LOAD = (off: number): number[] => [0x28, 0x02, off];
const F32_LOAD = (off: number): number[] => [0x2a, 0x02, off];
const F32_STORE = [0x38, 0x02, 0x00];
const V128_LOAD = [0xfd, 0x00, 0x00, 0x00];
const V128_STORE = [0xfd, 0x0b, 0x04, 0x00];
const V128_LOAD_ALIGNED = [0xfd, 0x00, 0x04, 0x00];
const U8X4_TO_F32X4 = [0xfd, 0x89, 0x01, 0xfd, 0xa9, 0x01, 0xfd, 0xfb, 0x01]; // extend_low u8→u16, u16→u32, convert_u
const SPLAT = [0xfd, 0x13];
const FMUL = [0xfd, 0xe6, 0x01];
const FADD = [0xfd, 0xe4, 0x01];
const LANE = (l: number): number[] => [0xfd, 0x1f, l];
/** for (x = 0; x < n; x++) body — as block/loop/br_if. */
const loop = (x: number, n: number, body: number[]): number[] => [0x02, 0x40, 0x03, 0x40, ...get(x), ...get(n), GE_U, 0x0d, 0x01, ...body, ...get(x), ...i32c(1), ADD, ...set(x), 0x0c, 0x00, 0x0b, 0x0b];

const entries = (list: number[][]): number[] => [...leb(list.length), ...list.flat()];
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function moduleBytes(): Uint8Array {
  // hpass: params 0 src, 1 tab, 2 n, 3 dst; locals 4 x, 5 t (= tab + 16x)
  const hpass = [
    ...entries([[2, I32]]),
    ...loop(4, 2, [
      ...get(1), ...get(4), ...i32c(4), SHL, ADD, ...set(5),
      ...get(3), ...get(4), ...i32c(4), SHL, ADD,
      ...get(0), ...get(5), ...I32_LOAD(0), ADD, ...V128_LOAD, ...U8X4_TO_F32X4, ...get(5), ...F32_LOAD(8), ...SPLAT, ...FMUL,
      ...get(0), ...get(5), ...I32_LOAD(4), ADD, ...V128_LOAD, ...U8X4_TO_F32X4, ...get(5), ...F32_LOAD(12), ...SPLAT, ...FMUL,
      ...FADD, ...V128_STORE,
    ]),
    0x0b,
  ];
  // vpass: params 0 h0, 1 h1, 2 n, 3 oB, 4 oG, 5 oR, 6 a, 7 b; locals 8 x, 9 o (= 4x), 10 A, 11 B, 12 v
  const lane = (out: number, l: number): number[] => [...get(out), ...get(9), ADD, ...get(12), ...LANE(l), ...F32_STORE];
  const row = (h: number, k: number): number[] => [...get(h), ...get(9), ...i32c(2), SHL, ADD, ...V128_LOAD_ALIGNED, ...get(k), ...FMUL];
  const vpass = [
    ...entries([[2, I32], [3, V128]]),
    ...get(6), ...SPLAT, ...set(10),
    ...get(7), ...SPLAT, ...set(11),
    ...loop(8, 2, [
      ...get(8), ...i32c(2), SHL, ...set(9),
      ...row(0, 10), ...row(1, 11), ...FADD, ...set(12),
      ...lane(3, 2), ...lane(4, 1), ...lane(5, 0),
    ]),
    0x0b,
  ];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, entries([
      [0x60, ...vec([I32, I32, I32, I32]), 0x00],
      [0x60, ...vec([I32, I32, I32, I32, I32, I32, F32, F32]), 0x00],
    ])),
    ...section(3, vec([0x00, 0x01])),
    ...section(5, entries([[0x00, 0x01]])),
    ...section(7, entries([[...name('hpass'), 0x00, 0x00], [...name('vpass'), 0x00, 0x01], [...name('mem'), 0x02, 0x00]])),
    ...section(10, entries([vec(hpass), vec(vpass)])),
  ]);
}

/** The bits of the WebAssembly JS API used here (this project's TS lib has no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface Kernel {
  hpass(src: number, tab: number, n: number, dst: number): void;
  vpass(h0: number, h1: number, n: number, oB: number, oG: number, oR: number, a: number, b: number): void;
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
}

let compiled: object | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is missing (then `fillInput()` is used). */
function wasmModule(): object | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = WA?.validate(bytes) ? new WA.Module(bytes) : null;
  }
  return compiled;
}

export function simdAvailable(): boolean {
  return wasmModule() !== null;
}

/**
 * One per thread that feeds the model (the worker): owns the wasm memory holding the frame copy,
 * the column table, two row buffers and the model input, all reused from call to call.
 */
export class SimdResizer {
  private readonly k: Kernel;
  private input = new Float32Array(0);
  private bytes = new Uint8Array(0);
  private layout = { frame: 0, tab: 0, h0: 0, h1: 0, out: 0, end: 0 };
  private tableKey = '';

  private constructor(k: Kernel) {
    this.k = k;
  }

  /** null when this Node has no WebAssembly SIMD. */
  static create(): SimdResizer | null {
    const m = wasmModule();
    if (!m || !WA) return null;
    return new SimdResizer(new WA.Instance(m, {}).exports as Kernel);
  }

  /** Same contract as `fillInput()`: the crop into `size`x`size`; the input is valid until the next call. */
  fill(frame: RgbFrame, crop: CropPlan, size: number): { input: Float32Array; placement: Placement } {
    if (frame.data.length < frame.width * frame.height * 3) throw new Error('RGB frame buffer is shorter than width*height*3');
    const c = clampCrop(crop, frame.width, frame.height);
    const pl = placementFor(c, size);
    const stride = frame.width * 3;
    const srcBytes = c.h * stride;
    this.reserve(srcBytes, pl.dw, size);
    const L = this.layout;
    // Only the crop's rows; columns are addressed through the table.
    this.bytes.set(frame.data.subarray(c.y * stride, c.y * stride + srcBytes), L.frame);
    this.columns(c.x, c.w, pl.dw, frame.width);
    const out = this.input;
    if (pl.dw < size || pl.dh < size) out.fill(PAD_VALUE);
    const ys = resampleTaps(c.y, c.h, pl.dh, frame.height);
    const plane = size * size * 4;
    const k = 1 / 255;
    let h0 = L.h0;
    let h1 = L.h1;
    let row0 = -1;
    let row1 = -1;
    for (let dy = 0; dy < pl.dh; dy++) {
      const s0 = ys.i0[dy]!;
      const s1 = ys.i1[dy]!;
      // Same row reuse as preprocess.ts's separable(): consecutive output rows share source rows.
      if (s0 !== row0) {
        if (s0 === row1) {
          const t = h0;
          h0 = h1;
          h1 = t;
          row1 = row0;
        } else this.k.hpass(L.frame + (s0 - c.y) * stride, L.tab, pl.dw, h0);
        row0 = s0;
      }
      if (s1 !== row1) {
        if (s1 === row0) this.bytes.copyWithin(h1, h0, h0 + pl.dw * 16);
        else this.k.hpass(L.frame + (s1 - c.y) * stride, L.tab, pl.dw, h1);
        row1 = s1;
      }
      const wy = ys.w[dy]!;
      const o = L.out + ((pl.dy + dy) * size + pl.dx) * 4;
      this.k.vpass(h0, h1, pl.dw, o, o + plane, o + 2 * plane, (1 - wy) * k, wy * k);
    }
    return { input: out, placement: pl };
  }

  /** Column table: byte offsets of both source pixels (relative to the row) and both weights. */
  private columns(x: number, w: number, n: number, width: number): void {
    const key = `${x},${w},${n},${width}`;
    if (key === this.tableKey) return;
    const t = resampleTaps(x, w, n, width);
    const view = new DataView(this.k.mem.buffer, this.layout.tab, n * 16);
    for (let d = 0; d < n; d++) {
      view.setInt32(d * 16, t.i0[d]! * 3, true);
      view.setInt32(d * 16 + 4, t.i1[d]! * 3, true);
      view.setFloat32(d * 16 + 8, 1 - t.w[d]!, true);
      view.setFloat32(d * 16 + 12, t.w[d]!, true);
    }
    this.tableKey = key;
  }

  /** Lays out (and grows) the wasm memory; views are re-made when the memory grew. */
  private reserve(srcBytes: number, n: number, size: number): void {
    const L = this.layout;
    const need = { frame: srcBytes + 16, tab: n * 16, row: n * 16, out: 3 * size * size * 4 };
    const fits = L.tab - L.frame >= need.frame && L.h0 - L.tab >= need.tab && L.h1 - L.h0 >= need.row && L.out - L.h1 >= need.row && L.end - L.out >= need.out;
    if (fits && this.bytes.buffer === this.k.mem.buffer) return;
    const align = (v: number): number => Math.ceil(v / 16) * 16;
    // Room for the largest crop of a 1920x1080 frame at once, so the layout rarely changes.
    const frame = 0;
    const tab = align(Math.max(need.frame, 1920 * 1080 * 3 + 16));
    const h0 = tab + align(Math.max(need.tab, 1024 * 16));
    const h1 = h0 + align(Math.max(need.row, 1024 * 16));
    const out = h1 + align(Math.max(need.row, 1024 * 16));
    const end = out + need.out;
    const pages = Math.ceil(end / 65536) - this.k.mem.buffer.byteLength / 65536;
    if (pages > 0) this.k.mem.grow(pages);
    this.layout = { frame, tab, h0, h1, out, end };
    this.bytes = new Uint8Array(this.k.mem.buffer);
    this.input = new Float32Array(this.k.mem.buffer, out, 3 * size * size);
    this.tableKey = '';
  }
}
