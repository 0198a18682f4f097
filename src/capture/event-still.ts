import { promises as fs } from 'node:fs';
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import { CamdError } from '../core/errors.js';
import { CardLayout, dayOf } from '../domain/card-layout.js';
import type { OnceResult, OnceSpec } from '../supervisor/runner.js';
import type { EventStill, EventStillRequest, RawPicture } from './types.js';

/**
 * An event's snapshot. The lens's ffmpeg refreshes a full-size JPEG once a second; when that
 * still was taken within STILL_NEAR_MS of the event's frame it is the snapshot (more pixels).
 * Otherwise — right after capture (re)started, before ffmpeg wrote its first still, or when the
 * still is stale — the frame the detector itself looked at is encoded, so an event always has
 * the picture that produced it. With a box, an annotated copy (the box drawn on it) is kept
 * beside it on the card: people look before they read.
 *
 * Encoding is one short ffmpeg through the capture's run-once runner (gated by sleep mode: no
 * picture is made while the camera sleeps). ~0.1 s per picture on the dev box; starts are rare.
 */
export const STILL_NEAR_MS = 1500;
const ENCODE_TIMEOUT_MS = 10_000;

export interface EventStillDeps {
  run(spec: OnceSpec): Promise<OnceResult>;
  /** The lens's full-size JPEG (capture/pipeline.ts snapshotFile). */
  latestFile: string;
  /** Scratch space for the raw frame and the encoded files (the run directory, tmpfs on the board). */
  tmpDir: string;
  cardMount?: string;
}

export async function keepEventStill(req: EventStillRequest, d: EventStillDeps): Promise<EventStill> {
  const base = join(d.tmpDir, `event-${req.lens}-${req.eventId}`);
  const made: string[] = [];
  try {
    const src = await pickSource(req, d, base, made);
    const jpeg = await fs.readFile(src.file);
    const out: EventStill = { ts: src.ts, bytes: jpeg.length, source: src.source, ...(src.width ? { width: src.width, height: src.height } : {}) };
    if (!d.cardMount) {
      const small = await inline(jpeg, src.file, req.maxInlineChars, d, base, made);
      if (!small.reduced) return { ...out, jpeg: small.jpeg };
      // The size of what is sent, when it is known (the frame's); a still's is not known here.
      const { width: _w, height: _h, ...rest } = out;
      const dims = src.width && src.height && small.width ? { width: Math.min(small.width, src.width), height: 2 * Math.round((src.height * Math.min(small.width, src.width)) / src.width / 2) } : {};
      return { ...rest, ...dims, bytes: small.bytes, jpeg: small.jpeg, reduced: true };
    }
    const dir = new CardLayout(d.cardMount).snapshots(req.lens, dayOf(src.ts));
    await fs.mkdir(dir, { recursive: true });
    const file = join(dir, `${src.ts}-${req.eventId}.jpg`);
    await writeFileAtomic(file, jpeg, 0o644);
    out.path = relative(d.cardMount, file);
    if (req.box) {
      const annotated = `${base}.annotated.jpg`;
      made.push(annotated);
      await d.run({ name: 'snapshot.annotate', args: annotateArgs(src.file, req.box, annotated), timeoutMs: ENCODE_TIMEOUT_MS });
      const bytes = await fs.readFile(annotated);
      const dest = join(dir, `${src.ts}-${req.eventId}.annotated.jpg`);
      await writeFileAtomic(dest, bytes, 0o644);
      out.annotated = { path: relative(d.cardMount, dest), bytes: bytes.length };
    }
    return out;
  } finally {
    await Promise.all(made.map((f) => fs.rm(f, { force: true })));
  }
}

/** Widths tried, in order, for an inline picture that must fit in the event. */
const INLINE_WIDTHS = [640, 480, 320, 240];

/**
 * The picture as base64 for the event. Too large for it (a full-size still is ~50 KB, an event
 * carries ~28 KB): re-encoded narrower and at a lower quality until it fits — a smaller picture
 * with the alert beats none. The event says so (`reduced`).
 */
async function inline(jpeg: Buffer, file: string, maxChars: number | undefined, d: EventStillDeps, base: string, made: string[]): Promise<{ jpeg: string; bytes: number; reduced?: true; width?: number }> {
  const b64 = jpeg.toString('base64');
  if (maxChars === undefined || b64.length <= maxChars) return { jpeg: b64, bytes: jpeg.length };
  let last = b64;
  let lastBytes = jpeg.length;
  for (const width of INLINE_WIDTHS) {
    const out = `${base}.inline-${width}.jpg`;
    made.push(out);
    await d.run({ name: 'snapshot.reduce', args: ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', file, '-vf', `scale='min(${width},iw)':-2`, '-frames:v', '1', '-q:v', '8', out], timeoutMs: ENCODE_TIMEOUT_MS });
    const small = await fs.readFile(out);
    last = small.toString('base64');
    lastBytes = small.length;
    if (last.length <= maxChars) return { jpeg: last, bytes: small.length, reduced: true, width };
  }
  // Still too large (a very detailed scene): the caller reports it as not fitting.
  return { jpeg: last, bytes: lastBytes, reduced: true };
}

interface Source {
  file: string;
  ts: number;
  source: EventStill['source'];
  width?: number;
  height?: number;
}

async function pickSource(req: EventStillRequest, d: EventStillDeps, base: string, made: string[]): Promise<Source> {
  const still = await fs.stat(d.latestFile).catch(() => undefined);
  const stillTs = still ? Math.round(still.mtimeMs) : undefined;
  if (stillTs !== undefined && Math.abs(stillTs - req.ts) <= STILL_NEAR_MS) {
    // ffmpeg replaces the still by rename: copy it, so the annotation reads the same picture.
    const copy = `${base}.still.jpg`;
    made.push(copy);
    await fs.copyFile(d.latestFile, copy);
    return { file: copy, ts: stillTs, source: 'still' };
  }
  if (req.picture) return encodeFrame(req.picture, d, base, made);
  if (stillTs === undefined) throw new CamdError('unavailable', `no picture from the ${req.lens} lens yet: capture is starting or restarting`, 'lens');
  throw new CamdError('unavailable', `the ${req.lens} lens's latest picture is ${Math.round(Math.abs(req.ts - stillTs) / 1000)} s from the event`, 'lens');
}

async function encodeFrame(p: RawPicture, d: EventStillDeps, base: string, made: string[]): Promise<Source> {
  if (p.data.length !== p.width * p.height * 3) throw new CamdError('invalid_args', `picture is ${p.data.length} bytes, ${p.width}x${p.height} RGB needs ${p.width * p.height * 3}`);
  const raw = `${base}.rgb`;
  const file = `${base}.jpg`;
  made.push(raw, file);
  await fs.writeFile(raw, p.data, { mode: 0o600 });
  await d.run({ name: 'snapshot.encode', args: encodeArgs(raw, p.width, p.height, file), timeoutMs: ENCODE_TIMEOUT_MS });
  return { file, ts: p.ts, source: 'frame', width: p.width, height: p.height };
}

export function encodeArgs(raw: string, width: number, height: number, out: string): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-i', raw, '-frames:v', '1', '-q:v', '4', out];
}

/** The box in the picture's own proportions (the still's size is not known here), 2 px or more. */
export function annotateArgs(src: string, box: { x: number; y: number; w: number; h: number }, out: string): string[] {
  const f = (v: number): string => Math.min(1, Math.max(0, v)).toFixed(4);
  const draw = `drawbox=x=iw*${f(box.x)}:y=ih*${f(box.y)}:w=iw*${f(box.w)}:h=ih*${f(box.h)}:color=red@0.9:t=max(2\\,ih/150)`;
  return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', src, '-vf', draw, '-frames:v', '1', '-q:v', '4', out];
}
