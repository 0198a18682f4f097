import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../core/atomic-file.js';
import { scanRecords, type OutRecord, type ScanResult } from './record.js';

/**
 * Segment files of the outbox: `seg-<first seq, 16 digits>.log`, append-only while they are the
 * tail, immutable after (only ever replaced whole by a compaction). Plus `cursor.json`, the
 * small file that moves as PUBACKs arrive.
 */
export interface Segment {
  name: string;
  path: string;
  firstSeq: number;
  lastSeq: number;
  /** Bytes of complete records (durable once the write that produced them was fsynced). */
  bytes: number;
  /** Records in the file, delivered ones included until the file is compacted or deleted. */
  count: number;
}

export interface Cursor {
  /** Every record with seq ≤ acked has been PUBACKed or dropped (and counted). */
  acked: number;
  /** Events dropped by the full-outbox policy since the outbox was created (factory reset). */
  dropped: number;
}

const SEGMENT = /^seg-(\d{16})\.log$/;
export const CURSOR_FILE = 'cursor.json';

export function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.log`;
}

export async function listSegmentFiles(dir: string): Promise<{ name: string; first: number }[]> {
  const names = await fs.readdir(dir);
  // Leftovers of a compaction cut short by a crash: the original file is still in place.
  await Promise.all(names.filter((n) => n.endsWith('.tmp')).map((n) => fs.rm(join(dir, n), { force: true })));
  return names
    .map((name) => ({ name, m: SEGMENT.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map(({ name, m }) => ({ name, first: Number(m[1]) }))
    .sort((a, b) => a.first - b.first);
}

export async function readSegment(path: string, keep?: (r: OutRecord) => boolean): Promise<ScanResult> {
  return scanRecords(await fs.readFile(path), keep);
}

/** Reads the complete records between two byte offsets (the durable part of a growing tail). */
export async function readRange(path: string, from: number, to: number): Promise<OutRecord[]> {
  if (to <= from) return [];
  const fh = await fs.open(path, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, from + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return scanRecords(buf.subarray(0, off)).records;
  } finally {
    await fh.close();
  }
}

/** Cuts a torn tail (a write interrupted by a crash) so the next append starts on a line boundary. */
export async function truncateTo(path: string, bytes: number): Promise<void> {
  const fh = await fs.open(path, 'r+');
  try {
    await fh.truncate(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces a segment with the records kept (atomic: the old or the new file survives a crash). */
export async function rewriteSegment(path: string, records: readonly OutRecord[], encode: (r: OutRecord) => string): Promise<number> {
  const text = records.map(encode).join('');
  if (text.length === 0) {
    await fs.rm(path, { force: true });
    return 0;
  }
  await writeFileAtomic(path, text, 0o600);
  return Buffer.byteLength(text);
}

export async function readCursor(dir: string): Promise<{ cursor: Cursor; problem?: string }> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, CURSOR_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cursor: { acked: 0, dropped: 0 } };
    return { cursor: { acked: 0, dropped: 0 }, problem: String(err) };
  }
  try {
    const raw = JSON.parse(text) as Partial<Cursor>;
    if (Number.isSafeInteger(raw.acked) && raw.acked! >= 0 && Number.isSafeInteger(raw.dropped) && raw.dropped! >= 0) {
      return { cursor: { acked: raw.acked!, dropped: raw.dropped! } };
    }
  } catch {
    // Fall through: an unreadable cursor means "resend everything" (at-least-once), never loss.
  }
  return { cursor: { acked: 0, dropped: 0 }, problem: 'cursor file unreadable; resending every stored event' };
}

export async function writeCursor(dir: string, cursor: Cursor): Promise<void> {
  await writeFileAtomic(join(dir, CURSOR_FILE), `${JSON.stringify({ v: 1, ...cursor })}\n`, 0o600);
}

export async function removeFiles(dir: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await Promise.all(names.map((n) => fs.rm(join(dir, n), { force: true })));
  await fsyncDir(dir);
}
