import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../core/errors.js';
import { MARKER_FILE } from '../domain/card-layout.js';
import { mountFor, readMounts, type MountEntry } from './mounts.js';

/** The five states the app shows for the microSD card. */
export type CardStatus = 'absent' | 'not-initialised' | 'in-use' | 'full' | 'error';

export const CardMarkerSchema = z
  .object({ version: z.literal(1), cardId: z.uuid(), initialisedAt: z.number().int() })
  .strict();
export type CardMarker = z.infer<typeof CardMarkerSchema>;

export interface CardProbe {
  present: boolean;
  /** The mount the card directory lives on (its own mount on a board). */
  mount?: MountEntry;
  readOnly: boolean;
  totalBytes?: number;
  freeBytes?: number;
  /** null: no marker (or not ours to read); undefined: not looked at (card absent). */
  marker?: CardMarker | null;
  /** Why the card cannot be used although it is there: an I/O error, EROFS, a bad marker. */
  error?: string;
  errorCode?: string;
  /**
   * The test write failed for want of space (ENOSPC, EDQUOT): the card is full, not broken.
   * Retention must run, and it can: deleting needs no space.
   */
  noSpace?: boolean;
}

/** Write errors that mean "no room", not "broken card". */
export function isNoSpace(code: string | undefined): boolean {
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export interface ProbeOptions {
  dir: string;
  /** Board: the card counts as present only when something is mounted exactly at `dir`. */
  requireMount: boolean;
  /** Write, fsync and remove a small file: the only sure test that writes still work. */
  writeTest: boolean;
  /** The test write is made only on this camera's own card: a foreign card is not written to. */
  ownCardId?: string;
  mountsFile?: string;
}

/**
 * Looks at the card: mounted/present, read-only (from the mount options and from a failed write),
 * size and free space, and the ownership marker. Never throws: problems come back in `error`.
 */
export async function probeCard(opts: ProbeOptions): Promise<CardProbe> {
  const p = await probeOnce(opts);
  // A card pulled while we looked: /proc/mounts still listed it, then the directory (by now the
  // bare mount point) had no marker or would not answer. That is "absent", not "replaced" or
  // "broken": look at the mounts once more before saying anything else.
  if (p.present && opts.requireMount && (p.error !== undefined || !p.marker)) {
    const again = mountFor(await readMounts(opts.mountsFile).catch(() => []), opts.dir);
    if (again?.mountPoint !== opts.dir) return { present: false, readOnly: false };
  }
  return p;
}

async function probeOnce(opts: ProbeOptions): Promise<CardProbe> {
  let mounts: MountEntry[] = [];
  try {
    mounts = await readMounts(opts.mountsFile);
  } catch {
    // No /proc (unusual): fall back to what the directory itself tells.
  }
  const mount = mountFor(mounts, opts.dir);
  if (opts.requireMount && mount?.mountPoint !== opts.dir) return { present: false, readOnly: false };
  try {
    const st = await fs.stat(opts.dir);
    if (!st.isDirectory()) return { present: false, readOnly: false };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { present: false, readOnly: false };
    return { present: true, mount, readOnly: false, error: `card unreadable: ${errorMessage(err)}`, errorCode: code };
  }
  const probe: CardProbe = { present: true, mount, readOnly: isReadOnlyMount(mount) };
  try {
    const s = await fs.statfs(opts.dir);
    probe.totalBytes = s.blocks * s.bsize;
    probe.freeBytes = s.bavail * s.bsize;
  } catch (err) {
    return { ...probe, error: `cannot read free space: ${errorMessage(err)}`, errorCode: (err as NodeJS.ErrnoException).code };
  }
  try {
    probe.marker = await readMarker(opts.dir);
  } catch (err) {
    return { ...probe, error: `cannot read the card marker: ${errorMessage(err)}`, errorCode: (err as NodeJS.ErrnoException).code };
  }
  if (probe.readOnly) return { ...probe, error: 'card is mounted read-only', errorCode: 'EROFS' };
  if (opts.writeTest && probe.marker && probe.marker.cardId === opts.ownCardId) {
    const failure = await writeTest(opts.dir);
    if (failure && isNoSpace(failure.code)) return { ...probe, noSpace: true };
    if (failure) {
      const ro = failure.code === 'EROFS';
      return { ...probe, readOnly: ro || probe.readOnly, error: ro ? 'card is read-only: a write failed with EROFS' : `a test write failed: ${failure.message}`, errorCode: failure.code };
    }
  }
  return probe;
}

/**
 * Read-only by the mount options: `ro`, or `emergency_ro` — how Linux 6.x shows the read-only
 * remount ext4 does after an error (errors=remount-ro) while the options still say `rw`.
 */
export function isReadOnlyMount(mount: MountEntry | undefined): boolean {
  return !!mount && (mount.options.includes('ro') || mount.options.includes('emergency_ro'));
}

/** The marker, or null when there is none or it is not a camd marker (a card from elsewhere). */
export async function readMarker(dir: string): Promise<CardMarker | null> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, MARKER_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const res = CardMarkerSchema.safeParse(JSON.parse(text));
    return res.success ? res.data : null;
  } catch {
    return null;
  }
}

async function writeTest(dir: string): Promise<{ code?: string; message: string } | undefined> {
  const file = join(dir, '.camd-probe');
  try {
    const fh = await fs.open(file, 'w', 0o600);
    try {
      await fh.writeFile('probe\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rm(file, { force: true });
    return undefined;
  } catch (err) {
    // A full card leaves the empty file behind otherwise (created, then the write found no room).
    await fs.rm(file, { force: true }).catch(() => undefined);
    return { code: (err as NodeJS.ErrnoException).code, message: errorMessage(err) };
  }
}

export interface Classified {
  status: Exclude<CardStatus, 'full'>;
  /** Free space is below the owner's threshold: retention must run (and `full` if it cannot help). */
  lowSpace: boolean;
  freePercent?: number;
  reason: string;
}

/**
 * The base state from one probe. `full` is decided by the caller after retention has tried,
 * because only it knows whether anything is left to delete.
 */
export function classifyCard(p: CardProbe, ownCardId: string | undefined, minFreePercent: number): Classified {
  if (!p.present) return { status: 'absent', lowSpace: false, reason: 'no card' };
  const freePercent = p.totalBytes ? (100 * (p.freeBytes ?? 0)) / p.totalBytes : undefined;
  if (p.error) return { status: 'error', lowSpace: false, freePercent, reason: p.error };
  if (!p.marker) return { status: 'not-initialised', lowSpace: false, freePercent, reason: 'card has no camd marker: initialise it' };
  if (!ownCardId || p.marker.cardId !== ownCardId) {
    return { status: 'not-initialised', lowSpace: false, freePercent, reason: 'card was initialised by another camera or owner: initialise it' };
  }
  const below = freePercent !== undefined && freePercent < minFreePercent;
  // A failed test write for want of space counts even when statfs still shows some (inodes gone,
  // blocks taken between the two calls).
  const lowSpace = below || !!p.noSpace;
  const reason = below ? `free space ${freePercent.toFixed(1)}% below ${minFreePercent}%` : p.noSpace ? 'a test write found no space left' : 'ok';
  return { status: 'in-use', lowSpace, freePercent, reason };
}
