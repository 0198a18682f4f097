import type { Readable } from 'node:stream';
import { probeMedia, spawnFfmpeg } from '../core/ffmpeg.js';
import type { LensFrame } from './types.js';

/**
 * Reads a video file (or a still, looped) the way the capture tap will deliver a lens: ffmpeg
 * decodes once, splits, and writes a small gray plane to stdout and an RGB24 frame to fd 3,
 * both as raw video. Used by the eval tool, the bench and the integration tests — real frames,
 * not synthetic ones. Frame timestamps are `startTs + i * 1000 / fps`.
 */
export interface Size {
  width: number;
  height: number;
}

export interface ClipInfo extends Size {
  fps: number;
  durationSec: number;
}

export interface ClipReadOptions {
  path: string;
  fps: number;
  gray: Size;
  rgb: Size;
  startTs?: number;
  /** Stop after this many seconds of the source. */
  maxSeconds?: number;
  /** Treat the input as a still image and repeat it (needs maxSeconds). */
  loopImage?: boolean;
  /** An ffmpeg filter applied to the source first (e.g. the eval tool's zoom-out). */
  preFilter?: string;
  /** Scaler of the RGB plane; default bilinear. The daemon's tap uses `area` (src/capture/args.ts). */
  rgbScaleFlags?: 'bilinear' | 'area';
}

/** Size, rate and length of a clip (probed by src/core/ffmpeg.ts). */
export async function probeClip(path: string): Promise<ClipInfo> {
  const meta = await probeMedia(path);
  if (!meta.video) throw new Error(`${path}: no video stream`);
  return { ...meta.video, durationSec: meta.durationSec };
}

/** Keeps the aspect ratio; both sides even (what yuv/raw scalers like). */
export function fitWidth(src: Size, width: number): Size {
  const w = Math.min(width, src.width) & ~1;
  return { width: w, height: Math.max(2, Math.round((src.height * w) / src.width / 2) * 2) };
}

/**
 * Cuts a byte stream into fixed-size frames, copying each chunk once straight into a fresh
 * frame buffer (no concatenation); pauses the stream when enough frames are queued.
 */
class FrameQueue {
  private current: Uint8Array;
  private filled = 0;
  private readonly frames: Uint8Array[] = [];
  ended = false;

  constructor(
    private readonly frameBytes: number,
    private readonly stream: Readable,
    private readonly wake: () => void,
  ) {
    this.current = new Uint8Array(frameBytes);
    stream.on('data', (c: Buffer) => this.onData(c));
    stream.on('end', () => {
      this.ended = true;
      wake();
    });
    stream.on('error', () => {
      this.ended = true;
      wake();
    });
  }

  get ready(): boolean {
    return this.frames.length > 0 || this.ended;
  }

  take(): Uint8Array | null {
    const f = this.frames.shift() ?? null;
    if (this.frames.length < 2 && this.stream.isPaused()) this.stream.resume();
    return f;
  }

  private onData(c: Buffer): void {
    let off = 0;
    while (off < c.length) {
      const n = Math.min(this.frameBytes - this.filled, c.length - off);
      this.current.set(c.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        this.frames.push(this.current);
        this.current = new Uint8Array(this.frameBytes);
        this.filled = 0;
      }
    }
    // Generous, so one output never stalls ffmpeg while we wait for the other one.
    if (this.frames.length >= 8) this.stream.pause();
    this.wake();
  }
}

export async function* readClip(o: ClipReadOptions): AsyncGenerator<LensFrame> {
  const input = o.loopImage ? ['-loop', '1', '-framerate', String(o.fps)] : [];
  const limit = o.maxSeconds !== undefined ? ['-t', String(o.maxSeconds)] : [];
  const graph =
    `[0:v]${o.preFilter ? `${o.preFilter},` : ''}fps=${o.fps},split=2[a][b];` +
    `[a]scale=${o.gray.width}:${o.gray.height}:flags=area,format=gray[g];` +
    `[b]scale=${o.rgb.width}:${o.rgb.height}:flags=${o.rgbScaleFlags ?? 'bilinear'},format=rgb24[c]`;
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...input, ...limit, '-i', o.path, '-filter_complex', graph,
    '-map', '[g]', '-f', 'rawvideo', 'pipe:1', '-map', '[c]', '-f', 'rawvideo', 'pipe:3'];
  const child = spawnFfmpeg(args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < 4000) stderr += c.toString();
  });
  let wakeUp: (() => void) | null = null;
  const wake = (): void => {
    const w = wakeUp;
    wakeUp = null;
    w?.();
  };
  const gray = new FrameQueue(o.gray.width * o.gray.height, child.stdout!, wake);
  const rgb = new FrameQueue(o.rgb.width * o.rgb.height * 3, child.stdio[3] as Readable, wake);
  const exited = new Promise<number | null>((resolve) => {
    // 'close' comes after the pipes are drained; 'error' (no ffmpeg) may never close them.
    const done = (code: number | null): void => {
      gray.ended = true;
      rgb.ended = true;
      wake();
      resolve(code);
    };
    child.on('error', (err) => {
      stderr += String(err);
      done(-1);
    });
    child.on('close', (code) => done(code));
  });
  const t0 = o.startTs ?? 0;
  let finished = false;
  try {
    for (let i = 0; ; i++) {
      while (!(gray.ready && rgb.ready)) await new Promise<void>((r) => (wakeUp = r));
      const g = gray.take();
      const c = rgb.take();
      if (!g || !c) break;
      yield { ts: t0 + (i * 1000) / o.fps, gray: { ...o.gray, data: g }, rgb: { ...o.rgb, data: c } };
    }
    const code = await exited;
    finished = true;
    if (code !== 0) throw new Error(`ffmpeg failed on ${o.path} (exit ${code}): ${stderr.trim()}`);
  } finally {
    if (!finished) child.kill('SIGKILL');
  }
}
