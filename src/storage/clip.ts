import { promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { LensName } from '../../board/schema.js';
import { CamdError } from '../core/errors.js';
import type { RecordingEntry, RecordingIndex } from './recording-index.js';

/**
 * A clip: the kept recording segments of one lens that overlap [from, to], oldest first, joined
 * byte for byte. The segments are MPEG-TS from one muxer (src/capture/args.ts), and TS is a
 * stream of self-contained 188-byte packets with the PAT/PMT at the start of every segment, so
 * the plain concatenation is a valid TS that decoders read through (every frame decodes: tested
 * with ffprobe/ffmpeg). Chosen over ffmpeg's concat demuxer (`-c copy`) because:
 *  - the size is known before a byte is sent (the sum of the files): the reply gives it, the
 *    size bound is checked up front, and the PUT carries a Content-Length — presigned S3-style
 *    URLs refuse a chunked body;
 *  - no child, no temporary copy on the card or the flash, no CPU beyond reading the files;
 *  - the bytes are exactly what the card holds: the receiver can check them.
 * What it costs: capture writes each segment with `reset_timestamps=1`, so the timestamps start
 * again at every segment boundary. Players (VLC, ffplay, mpv) play through; a tool that remuxes
 * (`ffmpeg -i clip.ts -c copy clip.mp4`) warns about non-monotonic DTS — `ffmpeg -fflags +genpts`
 * or a concat list of the files fixes that on the owner's computer.
 */
export interface ClipSegment {
  /** Absolute path on the card. */
  path: string;
  start: number;
  end: number;
  bytes: number;
  partial?: boolean;
}

export interface ClipPlan {
  lens: LensName;
  from: number;
  to: number;
  segments: ClipSegment[];
  /** Bytes of the concatenation: the sum of the segments' sizes. */
  total: number;
  /** Start of the first and end of the last segment (the clip covers a little more than asked). */
  start: number;
  end: number;
}

/** Bound on the index entries one clip may name (a day of 2 s segments is 43 200). */
const MAX_SEGMENTS = 100_000;

/** The segments of [from, to]; `not_found` when none overlaps, `too_large` over `maxBytes`. */
export async function planClip(index: RecordingIndex, lens: LensName, from: number, to: number, maxBytes: number): Promise<ClipPlan> {
  if (from > to) throw new CamdError('invalid_args', '"from" is after "to"', 'from');
  const { recordings, truncated } = await index.list(lens, from, to, MAX_SEGMENTS);
  if (truncated) throw new CamdError('too_large', `more than ${MAX_SEGMENTS} recordings in [${from}, ${to}]: ask for a shorter range`, 'to');
  if (recordings.length === 0) throw new CamdError('not_found', `no recordings of ${lens} between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`, 'from');
  const segments = recordings.map((e: RecordingEntry) => ({
    path: join(index.layout.mount, e.file),
    start: e.start,
    end: e.end,
    bytes: e.bytes,
    ...(e.partial ? { partial: true } : {}),
  }));
  const total = segments.reduce((n, s) => n + s.bytes, 0);
  if (total > maxBytes) {
    throw new CamdError('too_large', `the clip is ${total} bytes (${segments.length} recordings), more than recording.uploadMaxBytes (${maxBytes}): ask for a shorter range`, 'to');
  }
  return { lens, from, to, segments, total, start: segments[0]!.start, end: segments.at(-1)!.end };
}

/**
 * Opens every segment before the first byte is read: a segment that retention deletes meanwhile
 * stays readable through its open descriptor, so the clip is the one planned, or it fails here
 * naming the missing file. A file whose size no longer matches its index entry fails too (the
 * Content-Length promised would be wrong).
 */
export async function openClip(plan: ClipPlan): Promise<OpenClip> {
  const handles: FileHandle[] = [];
  try {
    for (const s of plan.segments) {
      let fh: FileHandle;
      try {
        fh = await fs.open(s.path, 'r');
      } catch (err) {
        throw new CamdError('unavailable', `recording ${s.path} is gone (${(err as NodeJS.ErrnoException).code ?? 'error'}): deleted by retention? ask again`, 'from');
      }
      handles.push(fh);
      const st: Stats = await fh.stat();
      if (st.size !== s.bytes) throw new CamdError('failed', `recording ${s.path} is ${st.size} bytes, its index says ${s.bytes}`, 'from');
    }
  } catch (err) {
    await Promise.all(handles.map((h) => h.close().catch(() => undefined)));
    throw err;
  }
  return new OpenClip(plan, handles);
}

const CHUNK = 256 * 1024;

export class OpenClip {
  private closed = false;

  constructor(
    readonly plan: ClipPlan,
    private readonly handles: FileHandle[],
  ) {}

  /** The concatenation from byte 0, read in 256 KiB chunks with backpressure; closes the files at its end. */
  stream(): Readable {
    return Readable.from(this.chunks(), { objectMode: false });
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    try {
      for (const [i, fh] of this.handles.entries()) {
        const seg = this.plan.segments[i]!;
        let pos = 0;
        while (pos < seg.bytes) {
          const buf = Buffer.allocUnsafe(Math.min(CHUNK, seg.bytes - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw new CamdError('failed', `recording ${seg.path} ended at ${pos} of ${seg.bytes} bytes`);
          pos += bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        }
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.handles.map((h) => h.close().catch(() => undefined)));
  }
}
