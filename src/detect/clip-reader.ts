import { spawn, execFile } from 'node:child_process';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
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
}

const execFileP = promisify(execFile);

export async function probeClip(path: string): Promise<ClipInfo> {
  const { stdout } = await execFileP('ffprobe', [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate:format=duration', '-of', 'json', path,
  ]);
  const j = JSON.parse(stdout) as { streams?: Array<{ width?: number; height?: number; r_frame_rate?: string }>; format?: { duration?: string } };
  const s = j.streams?.[0];
  if (!s?.width || !s.height) throw new Error(`${path}: no video stream`);
  const [num, den] = (s.r_frame_rate ?? '0/1').split('/').map(Number);
  const fps = num && den ? num / den : 0;
  return { width: s.width, height: s.height, fps, durationSec: Number(j.format?.duration ?? 0) };
}

/** Keeps the aspect ratio; both sides even (what yuv/raw scalers like). */
export function fitWidth(src: Size, width: number): Size {
  const w = Math.min(width, src.width) & ~1;
  return { width: w, height: Math.max(2, Math.round((src.height * w) / src.width / 2) * 2) };
}

/** Accumulates a byte stream into fixed-size frames; pauses the stream when enough are queued. */
class FrameQueue {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private readonly frames: Uint8Array[] = [];
  ended = false;

  constructor(
    private readonly frameBytes: number,
    private readonly stream: Readable,
    private readonly wake: () => void,
  ) {
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
    this.chunks.push(c);
    this.bytes += c.length;
    if (this.bytes >= this.frameBytes) {
      const all = Buffer.concat(this.chunks, this.bytes);
      let off = 0;
      while (all.length - off >= this.frameBytes) {
        this.frames.push(new Uint8Array(all.buffer, all.byteOffset + off, this.frameBytes));
        off += this.frameBytes;
      }
      const rest = all.subarray(off);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.bytes = rest.length;
    }
    if (this.frames.length >= 4) this.stream.pause();
    this.wake();
  }
}

export async function* readClip(o: ClipReadOptions): AsyncGenerator<LensFrame> {
  const input = o.loopImage ? ['-loop', '1', '-framerate', String(o.fps)] : [];
  const limit = o.maxSeconds !== undefined ? ['-t', String(o.maxSeconds)] : [];
  const graph =
    `[0:v]${o.preFilter ? `${o.preFilter},` : ''}fps=${o.fps},split=2[a][b];` +
    `[a]scale=${o.gray.width}:${o.gray.height}:flags=area,format=gray[g];` +
    `[b]scale=${o.rgb.width}:${o.rgb.height}:flags=bilinear,format=rgb24[c]`;
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...input, ...limit, '-i', o.path, '-filter_complex', graph,
    '-map', '[g]', '-f', 'rawvideo', 'pipe:1', '-map', '[c]', '-f', 'rawvideo', 'pipe:3'];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < 4000) stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      stderr += String(err);
      resolve(-1);
    });
    child.on('close', (code) => resolve(code));
  });
  let wakeUp: (() => void) | null = null;
  const wake = (): void => {
    const w = wakeUp;
    wakeUp = null;
    w?.();
  };
  const gray = new FrameQueue(o.gray.width * o.gray.height, child.stdout!, wake);
  const rgb = new FrameQueue(o.rgb.width * o.rgb.height * 3, child.stdio[3] as Readable, wake);
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
