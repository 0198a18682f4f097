import type { TapSettings } from './args.js';
import type { LensName, TapFrame } from './types.js';

/**
 * The frame tap: small raw frames of each lens for the detectors (and, while provisioning, the
 * QR reader).
 *
 * Bus contract (`ctx.bus.on(this, 'capture.frame', handler)`):
 *
 *   'capture.frame' { lens: 'wide'|'ptz', seq, ts, gray: { width, height, data }, rgb?: { width, height, data } }
 *
 * - One event per frame of a lens, with both planes of that instant: the gray plane (one byte per
 *   pixel, `capture.tap.width x height`, default 352x198) and, when the RGB tap is on, the rgb
 *   plane (packed RGB, 3 bytes per pixel, `rgbWidth x rgbHeight`, default 640x360; rgbWidth 0 =
 *   no RGB tap, no `rgb`). The pairing of ffmpeg's two tap outputs happens here, once (TapPairer);
 *   nobody downstream pairs again. Both planes show the whole field of view (the aspect may be
 *   stretched: use normalised coordinates), with the lens's orientation (flip/mirror) applied.
 * - Rate: config `capture.tap.fps` per lens (default 5).
 * - Sizes can change from one pipeline run to the next (a config change, or a reader's
 *   `capture.tap.demand` for a larger gray plane, src/capture/types.ts): read them off each frame.
 * - `data` of both planes is valid only until the handlers return: the buffers are pooled and
 *   reused. Copy what you keep, and never transfer (detach) their ArrayBuffer to a worker.
 *   Handlers must return quickly; do heavy work elsewhere and drop while busy.
 * - When the event loop falls behind, frames are dropped (latest wins) and counted in
 *   state.capture.<lens>.tap.dropped; nothing queues without bound.
 * - No frames while the camera sleeps (state.sleeping) or the lens's pipeline restarts.
 *
 * A snapshot for a detection event: `await ctx.commands.execute('snapshot', { lens, eventId },
 * { source: 'local' })` → `{ ok, result: { lens, ts, bytes, path? (on the card), jpeg? (base64 when
 * no card or inline: true) } }`; the file is named after the event id.
 */

/** The bus event for a pair out of TapPairer: planes sized from the run's tap settings. */
export function tapFrame(lens: LensName, pair: FramePair, tap: TapSettings): TapFrame {
  return {
    lens,
    seq: pair.seq,
    ts: pair.ts,
    gray: { width: tap.width, height: tap.height, data: pair.gray },
    ...(pair.rgb ? { rgb: { width: tap.rgbWidth, height: tap.rgbHeight, data: pair.rgb } } : {}),
  };
}

/** The config schema's bounds for the gray plane (src/config/schema.ts capture.tap). */
const GRAY_MAX = { width: 1280, height: 720 };

/**
 * The tap a lens's pipeline runs with: the configured one, with the gray plane enlarged to the
 * largest one a reader demands (`capture.tap.demand`), never past the lens's own picture or the
 * config's bounds, and never below the configured size (the detectors' plane only grows). The
 * RGB plane and the rate are not affected.
 */
export function tapWithDemands(cfg: TapSettings, demands: Iterable<{ width: number; height: number }>, lens: { width: number; height: number }): TapSettings {
  let best: { width: number; height: number } | undefined;
  for (const d of demands) {
    const width = Math.min(d.width, lens.width, GRAY_MAX.width);
    const height = Math.min(d.height, lens.height, GRAY_MAX.height);
    if (width * height > cfg.width * cfg.height && (!best || width * height > best.width * best.height)) best = { width, height };
  }
  return best ? { ...cfg, width: best.width, height: best.height } : cfg;
}

/** A small free list so steady-state capture allocates nothing per frame. */
export class FramePool {
  private readonly free: Buffer[] = [];
  constructor(
    readonly frameSize: number,
    private readonly keep = 4,
  ) {}

  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.frameSize);
  }

  release(buf: Buffer): void {
    if (buf.length === this.frameSize && this.free.length < this.keep) this.free.push(buf);
  }
}

/**
 * Cuts a raw video byte stream into fixed-size frames. Each frame is copied once, from the pipe's
 * chunks into a pooled buffer of the (small) tap size; full-size frames never reach JavaScript.
 */
export class FrameAssembler {
  private cur: Buffer | undefined;
  private filled = 0;

  constructor(
    readonly pool: FramePool,
    private readonly onFrame: (frame: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    const size = this.pool.frameSize;
    let off = 0;
    while (off < chunk.length) {
      this.cur ??= this.pool.acquire();
      const n = Math.min(size - this.filled, chunk.length - off);
      chunk.copy(this.cur, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === size) {
        const frame = this.cur;
        this.cur = undefined;
        this.filled = 0;
        this.onFrame(frame);
      }
    }
  }

  /** A new ffmpeg run starts at a frame boundary: forget a half frame of the old one. */
  reset(): void {
    if (this.cur) this.pool.release(this.cur);
    this.cur = undefined;
    this.filled = 0;
  }
}

export interface FramePair {
  seq: number;
  ts: number;
  gray: Buffer;
  rgb?: Buffer;
}

export interface PairerOptions {
  rgb: boolean;
  now(): number;
  deliver(pair: FramePair): void;
  /** Runs `fn` once the event loop is free (setImmediate); tests may run it synchronously. */
  schedule(fn: () => void): void;
  release(kind: 'gray' | 'rgb', buf: Buffer): void;
  /** At most this many half pairs waiting for their twin. */
  maxPending?: number;
}

interface Pending {
  seq: number;
  ts: number;
  gray?: Buffer;
  rgb?: Buffer;
}

/**
 * Pairs the n-th gray frame with the n-th rgb frame of one ffmpeg run (both come out of the
 * same `fps` filter through a split, so they show the same instant) and hands pairs on through a
 * one-slot mailbox: if the previous pair has not been delivered when the next is ready, the
 * previous one is dropped and counted. This is the only pairing of the two planes: the pair
 * becomes one `capture.frame` (tapFrame), and both buffers go back to their pools as soon as
 * `deliver` returns.
 */
export class TapPairer {
  private pending = new Map<number, Pending>();
  private nextGray = 0;
  private nextRgb = 0;
  /** Frames numbered below this lost their twin already: a late twin is dropped at once. */
  private floor = 0;
  private slot: FramePair | undefined;
  private scheduled = false;
  readonly counts = { frames: 0, delivered: 0, dropped: 0, unpaired: 0 };

  constructor(private readonly opts: PairerOptions) {}

  gray(buf: Buffer): void {
    const p = this.entry(this.nextGray++);
    if (!p) return this.discard({ gray: buf }, true);
    p.gray = buf;
    this.check(p);
  }

  rgb(buf: Buffer): void {
    if (!this.opts.rgb) {
      this.opts.release('rgb', buf);
      return;
    }
    const p = this.entry(this.nextRgb++);
    if (!p) return this.discard({ rgb: buf }, true);
    p.rgb = buf;
    this.check(p);
  }

  /** A new run: frame counting starts again; half pairs of the old run are dropped. */
  reset(): void {
    for (const p of this.pending.values()) this.discard(p, true);
    this.pending.clear();
    this.nextGray = 0;
    this.nextRgb = 0;
    this.floor = 0;
  }

  private entry(seq: number): Pending | undefined {
    if (seq < this.floor) return undefined;
    let p = this.pending.get(seq);
    if (!p) {
      p = { seq, ts: this.opts.now() };
      this.pending.set(seq, p);
      const max = this.opts.maxPending ?? 6;
      while (this.pending.size > max) {
        const oldest = this.pending.values().next().value!;
        this.pending.delete(oldest.seq);
        this.floor = Math.max(this.floor, oldest.seq + 1);
        this.discard(oldest, true);
      }
    }
    return p;
  }

  private check(p: Pending): void {
    if (!p.gray || (this.opts.rgb && !p.rgb)) return;
    this.pending.delete(p.seq);
    this.counts.frames++;
    if (this.slot) {
      this.counts.dropped++;
      this.discard(this.slot, false);
    }
    this.slot = { seq: p.seq, ts: p.ts, gray: p.gray, ...(p.rgb ? { rgb: p.rgb } : {}) };
    if (!this.scheduled) {
      this.scheduled = true;
      this.opts.schedule(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const pair = this.slot;
    if (!pair) return;
    this.slot = undefined;
    try {
      this.opts.deliver(pair);
      this.counts.delivered++;
    } finally {
      this.discard(pair, false);
    }
  }

  private discard(p: { gray?: Buffer; rgb?: Buffer }, unpaired: boolean): void {
    if (unpaired) this.counts.unpaired++;
    if (p.gray) this.opts.release('gray', p.gray);
    if (p.rgb) this.opts.release('rgb', p.rgb);
  }
}
