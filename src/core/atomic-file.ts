import { promises as fs } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Replace a file so that after a power cut it holds either the old or the new content, never a
 * mix: write a temp file in the same directory, fsync it, rename over the target, fsync the
 * directory so the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    // The umask may have narrowed the mode at creation; state it explicitly.
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
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
