import { promises as fs } from 'node:fs';
import { join } from 'node:path';

/** One line of ffmpeg's segment list (CSV): a segment the muxer has closed. Times in stream seconds. */
export interface ListedSegment {
  name: string;
  start: number;
  end: number;
}

/** Complete CSV lines; a trailing line without its newline is left for the next read. */
export function parseSegmentCsv(text: string): { entries: ListedSegment[]; rest: string } {
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  const entries: ListedSegment[] = [];
  for (const line of lines) {
    const f = line.trim().split(',');
    if (f.length < 3) continue;
    const start = Number(f[f.length - 2]);
    const end = Number(f[f.length - 1]);
    const name = f.slice(0, -2).join(',').replace(/^"|"$/g, '');
    if (name && Number.isFinite(start) && Number.isFinite(end)) entries.push({ name, start, end });
  }
  return { entries, rest };
}

/** Reads what ffmpeg appended to a run's segment list since the last call. */
export class SegmentListTail {
  private offset = 0;
  private rest = '';

  constructor(readonly file: string) {}

  async poll(): Promise<ListedSegment[]> {
    let fh;
    try {
      fh = await fs.open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      const { entries, rest } = parseSegmentCsv(this.rest + buf.subarray(0, bytesRead).toString('utf8'));
      this.rest = rest;
      return entries;
    } finally {
      await fh.close();
    }
  }
}

/**
 * Stream time → wall clock for one run. ffmpeg's segment times are in stream seconds; the
 * anchor (wall time of stream time 0) is estimated from when each list line was seen: a line is
 * always seen after its segment ended, so the smallest `seenAt - end` is the best estimate (off
 * by at most one poll interval).
 */
export class StreamClock {
  private anchor: number | undefined;

  observe(seenAt: number, streamEnd: number): void {
    const a = seenAt - streamEnd * 1000;
    if (this.anchor === undefined || a < this.anchor) this.anchor = a;
  }

  get anchorMs(): number | undefined {
    return this.anchor;
  }

  /**
   * The wall clock was stepped (NTP's first answer on a board without RTC): the anchor moves with
   * it, so the run's later segments — including the one being written — get right times. Without
   * this a forward step would never reach the anchor (it keeps the smallest estimate).
   */
  shift(stepMs: number): void {
    if (this.anchor !== undefined) this.anchor += stepMs;
  }

  wall(streamSeconds: number): number {
    return Math.round((this.anchor ?? 0) + streamSeconds * 1000);
  }
}

export const RUN_TAG_RE = /^r(\d{1,15})$/;
const SEGMENT_FILE_RE = /^(r\d{1,15})-(\d{6,})\.ts$/;

export interface LeftoverSegment {
  file: string;
  start: number;
  end: number;
  bytes: number;
  partial: boolean;
}

/** A segment smaller than a few TS packets holds no frame: not worth keeping. */
const MIN_SEGMENT_BYTES = 188 * 8;

/**
 * What a finished run (or the run of a daemon that crashed) left in staging that nobody handled:
 * listed segments are complete; an unlisted one was being written when ffmpeg died (kill -9,
 * power cut) and is partial — playable up to the cut, since MPEG-TS needs no trailer. Times:
 * stream times of the list on `anchor` (the run's wall time of stream time 0: the live estimate,
 * or the run's start from its tag after a crash); a partial segment starts where the last listed
 * one ended and ends at its last write. `handled` names files already reported.
 */
export async function leftoverSegments(
  dir: string,
  tag: string,
  handled: ReadonlySet<string>,
  anchor = Number(RUN_TAG_RE.exec(tag)?.[1] ?? 0),
): Promise<{ segments: LeftoverSegment[]; empty: string[] }> {
  let listed: ListedSegment[] = [];
  try {
    listed = parseSegmentCsv(`${await fs.readFile(join(dir, `${tag}.csv`), 'utf8')}\n`).entries;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const byName = new Map(listed.map((l) => [l.name, l]));
  const listedEnd = listed.reduce((m, l) => Math.max(m, l.end), 0);
  const names = (await fs.readdir(dir)).filter((n) => SEGMENT_FILE_RE.exec(n)?.[1] === tag).sort();
  const segments: LeftoverSegment[] = [];
  const empty: string[] = [];
  for (const name of names) {
    if (handled.has(name)) continue;
    const file = join(dir, name);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) continue;
    if (st.size < MIN_SEGMENT_BYTES) {
      empty.push(file);
      continue;
    }
    const l = byName.get(name);
    const start = Math.round(anchor + (l ? l.start : listedEnd) * 1000);
    const end = l ? Math.round(anchor + l.end * 1000) : Math.max(start, Math.round(st.mtimeMs));
    segments.push({ file, start, end, bytes: st.size, partial: !l });
  }
  return { segments, empty };
}

/** Run tags present in a staging directory (from their CSV or segment files). */
export async function runTags(dir: string): Promise<string[]> {
  const tags = new Set<string>();
  for (const n of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = /^(r\d{1,15})(?:-\d{6,}\.ts|\.csv)$/.exec(n);
    if (m) tags.add(m[1]!);
  }
  return [...tags].sort();
}
