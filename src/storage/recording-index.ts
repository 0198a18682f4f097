import { promises as fs } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { LensName } from '../../board/schema.js';
import { fsyncDir, writeFileAtomic } from '../core/atomic-file.js';
import { isNoSpace } from './card.js';
import { CardLayout, DAY_RE, dayOf } from '../domain/card-layout.js';

export type RecordReason = 'continuous' | 'event' | 'manual';

/** One kept recording segment. `file` is relative to the card's mount point. */
export interface RecordingEntry {
  lens: LensName;
  start: number;
  end: number;
  file: string;
  bytes: number;
  reason: RecordReason;
  /** The segment was cut short (ffmpeg killed, power cut): playable up to where it stops. */
  partial?: boolean;
  /**
   * Recorded while the clock was not synchronised, and not re-dated since (the daemon restarted
   * before NTP answered, so the step is unknown): `start`/`end` may be far off.
   */
  clockSynced?: false;
}

const REASON_CODE: Record<RecordReason, string> = { continuous: 'c', event: 'e', manual: 'm' };
const CODE_REASON: Record<string, RecordReason> = { c: 'continuous', e: 'event', m: 'manual' };
const NAME_RE = /^(\d{1,15})-(\d{1,9})-([cem])(p?)(u?)\.ts$/;
const INDEX = 'index.jsonl';

type NameFields = Pick<RecordingEntry, 'start' | 'end' | 'reason' | 'partial' | 'clockSynced'>;

/**
 * `<startMs>-<durationMs>-<reason>[p][u].ts`: the name alone rebuilds the index entry (`p`
 * partial, `u` recorded while the clock was not synchronised). The start may be a 1970 time.
 */
export function recordingName(e: NameFields): string {
  return `${e.start}-${Math.max(0, e.end - e.start)}-${REASON_CODE[e.reason]}${e.partial ? 'p' : ''}${e.clockSynced === false ? 'u' : ''}.ts`;
}

export function parseRecordingName(name: string): NameFields | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const start = Number(m[1]);
  return { start, end: start + Number(m[2]), reason: CODE_REASON[m[3]!]!, ...(m[4] ? { partial: true } : {}), ...(m[5] ? { clockSynced: false as const } : {}) };
}

function parseLine(line: string, lens: LensName): RecordingEntry | undefined {
  try {
    const o = JSON.parse(line) as Partial<RecordingEntry>;
    if (typeof o.start !== 'number' || typeof o.end !== 'number' || typeof o.file !== 'string' || typeof o.bytes !== 'number') return undefined;
    const reason = o.reason && o.reason in REASON_CODE ? o.reason : 'continuous';
    return { lens, start: o.start, end: o.end, file: o.file, bytes: o.bytes, reason, ...(o.partial ? { partial: true } : {}), ...(o.clockSynced === false ? { clockSynced: false as const } : {}) };
  } catch {
    // A torn last line after a power cut: skipped, the file is re-added by reconcile.
    return undefined;
  }
}

function lineOf(e: RecordingEntry): string {
  const { lens: _lens, ...rest } = e;
  return `${JSON.stringify(rest)}\n`;
}

/**
 * The per-lens, per-UTC-day index of kept recordings on the card (JSON lines). Crash-consistent
 * by construction: a recording is fsynced and renamed into place *before* its line is appended
 * (fsynced), and deleted only *after* its line is gone, so the index never names a missing file
 * (see `remove` for the one exception on a full card); a file the index lacks (a crash between
 * the two steps) is found by `reconcile` from its name. Writes run one at a time.
 */
export class RecordingIndex {
  private queue: Promise<unknown> = Promise.resolve();
  readonly layout: CardLayout;

  constructor(mount: string) {
    this.layout = new CardLayout(mount);
  }

  /** Moves a finished staging segment into the recordings and indexes it. */
  add(lens: LensName, src: string, e: Omit<RecordingEntry, 'lens' | 'file'>): Promise<RecordingEntry> {
    return this.exclusive(async () => {
      const day = dayOf(e.start);
      const dir = this.layout.recDay(lens, day);
      await fs.mkdir(dir, { recursive: true });
      const dest = join(dir, recordingName(e));
      // ffmpeg never fsyncs: without this the index could name a recording whose data was still
      // in the page cache when the card failed or the power went (ext4 hands back 0 bytes).
      await fsyncFile(src);
      await fs.rename(src, dest);
      await fsyncDir(dir);
      const entry: RecordingEntry = { lens, ...e, file: relative(this.layout.mount, dest) };
      try {
        await appendLine(join(dir, INDEX), lineOf(entry));
      } catch (err) {
        // Not indexed means invisible to retention: put it back where it came from (a rename
        // needs no space) so the caller can try again once there is room, then say why.
        await fs.rename(dest, src).catch(() => undefined);
        throw err;
      }
      return entry;
    });
  }

  async days(lens: LensName): Promise<string[]> {
    try {
      return (await fs.readdir(this.layout.recDir(lens))).filter((d) => DAY_RE.test(d)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async readDay(lens: LensName, day: string): Promise<RecordingEntry[]> {
    let text = '';
    try {
      text = await fs.readFile(join(this.layout.recDay(lens, day), INDEX), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const out: RecordingEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const e = parseLine(line, lens);
      if (e) out.push(e);
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /** Recordings overlapping [from, to], oldest first, at most `limit`. */
  async list(lens: LensName, from: number, to: number, limit: number): Promise<{ recordings: RecordingEntry[]; truncated: boolean }> {
    const out: RecordingEntry[] = [];
    // A segment is filed under the day it starts: look one day back for one that runs past midnight.
    const firstDay = dayOf(from - 86_400_000);
    const lastDay = dayOf(to);
    for (const day of await this.days(lens)) {
      if (day < firstDay || day > lastDay) continue;
      for (const e of await this.readDay(lens, day)) {
        if (e.end < from || e.start > to) continue;
        if (out.length === limit) return { recordings: out, truncated: true };
        out.push(e);
      }
    }
    return { recordings: out, truncated: false };
  }

  /**
   * Drops the entries from the index first, then deletes their files. Returns bytes freed.
   *
   * A card full to the last block cannot take the rewritten index (ENOSPC/EDQUOT): then the
   * files go first and the index is rewritten into the room they left. Until that rewrite the
   * index names files that are gone — the one exception to the rule above, for a moment; a crash
   * inside it is repaired at the next start (reconcile of the oldest day), and readers skip
   * nothing worse than a missing file.
   */
  remove(lens: LensName, day: string, files: ReadonlySet<string>): Promise<number> {
    return this.exclusive(async () => {
      const dir = this.layout.recDay(lens, day);
      const all = await this.readDay(lens, day);
      const keep = all.filter((e) => !files.has(e.file));
      const gone = all.filter((e) => files.has(e.file));
      if (keep.length === 0) {
        await fs.rm(dir, { recursive: true, force: true });
        return gone.reduce((n, e) => n + e.bytes, 0);
      }
      const text = keep.map(lineOf).join('');
      let deleted = false;
      try {
        await writeFileAtomic(join(dir, INDEX), text, 0o644);
      } catch (err) {
        if (!isNoSpace((err as NodeJS.ErrnoException).code)) throw err;
        await this.deleteFiles(gone);
        deleted = true;
        await fsyncDir(dir);
        await writeFileAtomic(join(dir, INDEX), text, 0o644);
      }
      return deleted ? gone.reduce((n, e) => n + e.bytes, 0) : this.deleteFiles(gone);
    });
  }

  private async deleteFiles(entries: readonly RecordingEntry[]): Promise<number> {
    let freed = 0;
    for (const e of entries) {
      await fs.rm(join(this.layout.mount, e.file), { force: true });
      freed += e.bytes;
    }
    return freed;
  }

  /**
   * The clock was stepped by `stepMs` after `entries` were kept (all recorded while it was not
   * synchronised, in this process): each moves to its right time — renamed under the day it now
   * starts on, indexed there, then dropped from its old day's index — and loses its `u` mark.
   * A crash part-way leaves a file under its new name that the old index still lists: reconcile
   * (at the next start) drops the stale line and indexes the file from its name.
   */
  redate(entries: readonly RecordingEntry[], stepMs: number): Promise<RecordingEntry[]> {
    return this.exclusive(async () => {
      const moved: RecordingEntry[] = [];
      const gone = new Map<string, Set<string>>();
      for (const e of entries) {
        const { clockSynced: _unsynced, ...rest } = e;
        const next: Omit<RecordingEntry, 'file'> = { ...rest, start: e.start + stepMs, end: e.end + stepMs };
        const dir = this.layout.recDay(e.lens, dayOf(next.start));
        const dest = join(dir, recordingName(next));
        await fs.mkdir(dir, { recursive: true });
        try {
          await fs.rename(join(this.layout.mount, e.file), dest);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // retention took it meanwhile
          throw err;
        }
        await fsyncDir(dir);
        const entry: RecordingEntry = { ...next, file: relative(this.layout.mount, dest) };
        await appendLine(join(dir, INDEX), lineOf(entry));
        moved.push(entry);
        const key = `${e.lens}/${dayOf(e.start)}`;
        gone.set(key, (gone.get(key) ?? new Set()).add(e.file));
      }
      for (const [key, files] of gone) {
        const [lens, day] = key.split('/') as [LensName, string];
        const keep = (await this.readDay(lens, day)).filter((x) => !files.has(x.file));
        if (keep.length) await writeFileAtomic(join(this.layout.recDay(lens, day), INDEX), keep.map(lineOf).join(''), 0o644);
        else await fs.rm(this.layout.recDay(lens, day), { recursive: true, force: true });
      }
      return moved;
    });
  }

  /**
   * Makes one day's index match its directory: entries whose file is gone are dropped, files the
   * index lacks are added from their names. Returns what changed.
   */
  reconcile(lens: LensName, day: string): Promise<{ added: number; dropped: number }> {
    return this.exclusive(async () => {
      const dir = this.layout.recDay(lens, day);
      let names: string[];
      try {
        names = await fs.readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { added: 0, dropped: 0 };
        throw err;
      }
      const entries = await this.readDay(lens, day);
      const onDisk = new Set(names.filter((n) => NAME_RE.test(n)));
      const kept = entries.filter((e) => onDisk.has(basename(e.file)));
      const known = new Set(kept.map((e) => basename(e.file)));
      const added: RecordingEntry[] = [];
      for (const name of onDisk) {
        if (known.has(name)) continue;
        const meta = parseRecordingName(name)!;
        const st = await fs.stat(join(dir, name));
        added.push({ lens, ...meta, file: relative(this.layout.mount, join(dir, name)), bytes: st.size });
      }
      const dropped = entries.length - kept.length;
      if (added.length || dropped) {
        const all = [...kept, ...added].sort((a, b) => a.start - b.start);
        await writeFileAtomic(join(dir, INDEX), all.map(lineOf).join(''), 0o644);
      }
      return { added: added.length, dropped };
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Appends one line durably; a torn last line (power cut mid-append) is closed off first. */
async function appendLine(file: string, line: string): Promise<void> {
  const fh = await fs.open(file, 'a+', 0o644);
  try {
    const { size } = await fh.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await fh.appendFile(prefix + line);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
