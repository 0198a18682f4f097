import { promises as fs } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Random part of a temp file's name: 6 bytes as 12 hex digits (see tempName). */
const TEMP_RANDOM_BYTES = 6;

/** `.<name>.<12 hex>.tmp` beside the target: the one naming writeFileAtomic and removeStaleTemps share. */
function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(TEMP_RANDOM_BYTES).toString('hex')}.tmp`);
}

function tempPattern(path: string): RegExp {
  const name = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${name}\\.[0-9a-f]{${TEMP_RANDOM_BYTES * 2}}\\.tmp$`);
}

/**
 * Replace a file so that after a power cut it holds either the old or the new content, never a
 * mix: write a temp file in the same directory, fsync it, rename over the target, fsync the
 * directory so the rename itself is durable. A failed write (ENOSPC, EIO…) removes its temp
 * file; only a process killed mid-write leaves one, and removeStaleTemps clears those at load.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const tmp = tempName(path);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      // The umask may have narrowed the mode at creation; state it explicitly.
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (err) {
    // A full card must not fill up further with half-written temps of the very file that failed.
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * Removes the temp files writeFileAtomic left for `path` when its process was killed between
 * creating the temp and renaming it (kill -9, power cut): only `.<name>.<12 hex>.tmp` of that
 * one file, never anything else in the directory. Call it when nothing is writing `path` (at
 * load, before the first write): a temp being written right now would be removed under its
 * writer. Returns the names removed.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path);
  const re = tempPattern(path);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const stale = names.filter((n) => re.test(n));
  for (const n of stale) await fs.rm(join(dir, n), { force: true });
  if (stale.length) await fsyncDir(dir);
  return stale;
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Remove a file and make the removal durable. */
export async function removeDurably(path: string): Promise<void> {
  await fs.rm(path, { force: true });
  await fsyncDir(dirname(path));
}

export async function ensureDir(dir: string, mode = 0o755): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode });
}
