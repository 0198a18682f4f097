import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { LensName } from '../../board/schema.js';
import { DAY_RE } from '../domain/card-layout.js';
import type { RecordingIndex } from './recording-index.js';

export interface RetentionResult {
  freedBytes: number;
  deletedRecordings: number;
  deletedStills: number;
  /** Nothing deletable is left on the card. */
  exhausted: boolean;
}

/** Bytes to free so that free space is back at `targetPercent` of the card. */
export function bytesToFree(totalBytes: number, freeBytes: number, targetPercent: number): number {
  return Math.max(0, Math.ceil((totalBytes * targetPercent) / 100 - freeBytes));
}

interface DaySource {
  day: string;
  kind: 'recording' | 'stills';
  lens?: LensName;
  dir?: string;
}

/**
 * Oldest-first retention over everything the daemon keeps on the card: recordings of both lenses
 * and stills (snapshots, panoramas), taken day by day from the oldest day and by time within a
 * day, until `need` bytes are freed. Staging segments are never touched (they are the pre-roll
 * and are dropped by the recorder within seconds).
 */
export async function runRetention(index: RecordingIndex, lenses: readonly LensName[], need: number): Promise<RetentionResult> {
  const res: RetentionResult = { freedBytes: 0, deletedRecordings: 0, deletedStills: 0, exhausted: false };
  const sources: DaySource[] = [];
  for (const lens of lenses) for (const day of await index.days(lens)) sources.push({ day, kind: 'recording', lens });
  for (const root of index.layout.stillsRoots) {
    for (const dir of await stillDayDirs(root)) sources.push({ day: dir.day, kind: 'stills', dir: dir.path });
  }
  sources.sort((a, b) => a.day.localeCompare(b.day));
  let i = 0;
  while (res.freedBytes < need && i < sources.length) {
    const day = sources[i]!.day;
    const sameDay: DaySource[] = [];
    while (i < sources.length && sources[i]!.day === day) sameDay.push(sources[i++]!);
    // Items of one day from every source, oldest first.
    const items: { t: number; bytes: number; src: DaySource; key: string }[] = [];
    for (const src of sameDay) {
      if (src.kind === 'recording') {
        for (const e of await index.readDay(src.lens!, day)) items.push({ t: e.start, bytes: e.bytes, src, key: e.file });
      } else {
        for (const f of await stillFiles(src.dir!)) items.push({ t: f.mtimeMs, bytes: f.size, src, key: f.path });
      }
    }
    items.sort((a, b) => a.t - b.t);
    const chosen = new Map<DaySource, Set<string>>();
    let planned = res.freedBytes;
    for (const it of items) {
      if (planned >= need) break;
      if (!chosen.has(it.src)) chosen.set(it.src, new Set());
      chosen.get(it.src)!.add(it.key);
      planned += it.bytes;
    }
    for (const [src, keys] of chosen) {
      if (src.kind === 'recording') {
        res.freedBytes += await index.remove(src.lens!, day, keys);
        res.deletedRecordings += keys.size;
      } else {
        for (const key of keys) {
          const st = await fs.stat(key).catch(() => undefined);
          await fs.rm(key, { force: true });
          res.freedBytes += st?.size ?? 0;
          res.deletedStills++;
        }
      }
    }
  }
  res.exhausted = res.freedBytes < need;
  return res;
}

async function stillDayDirs(root: string): Promise<{ day: string; path: string }[]> {
  // snapshots/<lens>/<day>/ and panorama/<day>/
  const out: { day: string; path: string }[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (DAY_RE.test(n)) out.push({ day: n, path: join(dir, n) });
      else if (depth > 0) await walk(join(dir, n), depth - 1);
    }
  };
  await walk(root, 1);
  return out;
}

async function stillFiles(dir: string): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const out: { path: string; size: number; mtimeMs: number }[] = [];
  for (const n of await fs.readdir(dir).catch(() => [] as string[])) {
    const st = await fs.stat(join(dir, n)).catch(() => undefined);
    if (st?.isFile()) out.push({ path: join(dir, n), size: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

export interface AgeRetentionResult {
  deletedRecordings: number;
  deletedStills: number;
  freedBytes: number;
}

/**
 * Time-based retention (`recording.retainDays`): every recording that *ended* before `cutoff`
 * (epoch ms), and every still last written before it, is deleted. A recording that runs past the
 * cutoff is kept whole — it still holds footage younger than the limit. Only days up to the
 * cutoff's day are read (a segment is filed under the day it starts), so a pass over a card of
 * fresh recordings reads one directory listing per lens.
 */
export async function runAgeRetention(index: RecordingIndex, lenses: readonly LensName[], cutoff: number): Promise<AgeRetentionResult> {
  const res: AgeRetentionResult = { deletedRecordings: 0, deletedStills: 0, freedBytes: 0 };
  const lastDay = new Date(cutoff).toISOString().slice(0, 10);
  for (const lens of lenses) {
    for (const day of await index.days(lens)) {
      if (day > lastDay) break; // days() is sorted
      const old = (await index.readDay(lens, day)).filter((e) => e.end < cutoff);
      if (old.length === 0) continue;
      res.freedBytes += await index.remove(lens, day, new Set(old.map((e) => e.file)));
      res.deletedRecordings += old.length;
    }
  }
  for (const root of index.layout.stillsRoots) {
    for (const dir of await stillDayDirs(root)) {
      if (dir.day > lastDay) continue;
      for (const f of await stillFiles(dir.path)) {
        if (f.mtimeMs >= cutoff) continue;
        await fs.rm(f.path, { force: true });
        res.freedBytes += f.size;
        res.deletedStills++;
      }
    }
  }
  return res;
}
