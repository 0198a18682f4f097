import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { call } from '../client.js';
import { obj, str, writeOut, type Io } from './io.js';

/** Width and height from a JPEG's frame header (SOFn); undefined when there is none. */
export function jpegSize(buf: Uint8Array): { width: number; height: number } | undefined {
  if (buf[0] !== 0xff || buf[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return undefined;
    const marker = buf[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const len = (buf[i + 2]! << 8) | buf[i + 3]!;
    // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC): the frame header with the size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (buf[i + 5]! << 8) | buf[i + 6]!, width: (buf[i + 7]! << 8) | buf[i + 8]! };
    }
    i += 2 + len;
  }
  return undefined;
}

/** `31.2 KB`: decimal units, as `ls -lh --si` and the other camctl sizes. */
export function kb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} KB`;
}

/**
 * The JPEG a `snapshot` / `view360` reply carries: inline base64 when there is no card (or it was
 * asked for), otherwise read from the card at the reply's `path` (relative to the card mount,
 * which the state names). camctl runs as camd or root, so it can read the card.
 */
export async function replyJpeg(sock: string, result: unknown): Promise<Buffer> {
  const r = obj(result);
  if (typeof r.jpeg === 'string') return Buffer.from(r.jpeg, 'base64');
  const path = str(r.path);
  if (!path) throw new Error('the reply carries neither a picture nor a path to one');
  let file = path;
  if (!isAbsolute(path)) {
    const st = await call(sock, 'status', {});
    const mount = st.ok ? str(obj(obj(st.result).storage).mount) : '';
    if (!mount) throw new Error(`the picture is on the card (${path}) but the card's mount point is unknown`);
    file = join(mount, path);
  }
  return fs.readFile(file);
}

/** Writes the file whole or not at all: a temp file beside it, then a rename. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.writeFile(tmp, data, { mode: 0o644 });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Puts the picture where `-o` says: a file (atomically), or `-` for raw bytes on stdout — never
 * onto a terminal, where it would be noise. Returns what to tell the person (undefined for `-`).
 */
export async function deliverJpeg(io: Io, out: string, jpeg: Buffer, what: string): Promise<string | undefined> {
  if (out === '-') {
    await writeOut(io, jpeg);
    return undefined;
  }
  const file = resolve(out);
  await writeFileAtomic(file, jpeg);
  const size = jpegSize(jpeg);
  return `wrote ${out} (${kb(jpeg.length)}${size ? `, ${size.width}x${size.height}` : ''}, ${what})`;
}

/** Refuses what would put binary on a terminal; the hint names the flag. */
export function binaryRefusal(io: Io, out: string | undefined, verb: string): string | undefined {
  if (out === '-' && io.outTty) return `${verb}: -o - writes the JPEG to stdout, which is a terminal: redirect it (> file.jpg) or give -o FILE.jpg`;
  if (out === undefined && io.outTty) return `${verb}: where to? give -o FILE.jpg (or -o - and redirect stdout)`;
  return undefined;
}
