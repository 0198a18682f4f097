import { createWriteStream, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { call } from './client.js';

type Obj = Record<string, unknown>;

/** `--from`/`--to`: epoch ms, or anything Date.parse reads (2026-12-01T10:00:00Z). */
export function parseTime(text: string, flag: string): number {
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(t) || t < 0) throw new Error(`${flag}: not a time (epoch ms or an ISO date): ${text}`);
  return t;
}

/**
 * `camctl recordings get --lens L --from T --to T -o file.ts` (`-o -`: stdout). The daemon names
 * the segment files (`recordings.clip`, local only); camctl — run as camd or root, like every
 * camctl, so it can read the card — joins them byte for byte into the output (src/storage/clip.ts
 * says why that is a valid MPEG-TS). No video goes through the JSON control socket. Every file is
 * opened before the first byte is copied, so retention deleting one meanwhile cannot cut the
 * clip; the output appears under its name only once whole (written beside it, then renamed).
 */
export async function runRecordingsGet(sock: string, lens: string, from: number, to: number, out: string, json: boolean): Promise<number> {
  const reply = await call(sock, 'recordings.clip', { lens, from, to });
  if (!reply.ok) {
    process.stderr.write(`camctl: ${reply.error.code}: ${reply.error.message}\n`);
    return 1;
  }
  const r = reply.result as Obj;
  const files = (r.files as { path: string; bytes: number }[] | undefined) ?? [];
  const total = Number(r.total);
  const handles: FileHandle[] = [];
  try {
    for (const f of files) handles.push(await fs.open(f.path, 'r'));
    let written = 0;
    const counted = Readable.from(
      (async function* () {
        for (const fh of handles) {
          for await (const c of fh.createReadStream({ autoClose: false })) {
            written += (c as Buffer).length;
            yield c as Buffer;
          }
        }
      })(),
    );
    if (out === '-') {
      await pipeline(counted, process.stdout);
    } else {
      const dest = resolve(out);
      const part = `${dest}.part`;
      try {
        await pipeline(counted, createWriteStream(part, { mode: 0o600 }));
        if (written !== total) throw new Error(`wrote ${written} bytes, the daemon listed ${total}`);
        await fs.rename(part, dest);
      } catch (err) {
        await fs.rm(part, { force: true });
        throw err;
      }
      const summary = { file: dest, bytes: written, segments: files.length, start: r.start, end: r.end };
      process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `${dest}: ${written} bytes, ${files.length} recordings, ${new Date(Number(r.start)).toISOString()} → ${new Date(Number(r.end)).toISOString()}\n`);
    }
    return 0;
  } finally {
    await Promise.all(handles.map((h) => h.close().catch(() => undefined)));
  }
}
