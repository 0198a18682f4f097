import { createWriteStream, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { call } from './client.js';
import { bytes, dateTimeOf, duration, table, yellow } from './format.js';

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

interface ListedRecording {
  start: number;
  end: number;
  bytes: number;
  reason: string;
  partial?: boolean;
  clockSynced?: boolean;
}

/**
 * `camctl recordings list --lens L [--since T] [--to T] [-n N]`: a table in device.timezone
 * (the daemon keeps and answers UTC epoch ms; `--json` prints its reply as it is). A recording
 * made before the clock was synchronised and never re-dated says its time is unsure.
 */
export async function runRecordingsList(sock: string, o: { lens: string; from?: number; to?: number; limit?: number; json: boolean }): Promise<number> {
  const reply = await call(sock, 'recordings.list', { lens: o.lens, ...(o.from !== undefined && { from: o.from }), ...(o.to !== undefined && { to: o.to }), ...(o.limit !== undefined && { limit: o.limit }) });
  if (o.json) {
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    return reply.ok ? 0 : 1;
  }
  if (!reply.ok) {
    process.stderr.write(`camctl: ${reply.error.code}: ${reply.error.message}\n`);
    return 1;
  }
  const r = reply.result as { recordings: ListedRecording[]; truncated: boolean };
  if (r.recordings.length === 0) {
    process.stdout.write('(no recordings in that span)\n');
    return 0;
  }
  const rows = r.recordings.map((e) => [
    dateTimeOf(e.start),
    duration(e.end - e.start),
    bytes(e.bytes),
    `${e.reason}${e.partial ? ' (cut short)' : ''}`,
    e.clockSynced === false ? yellow('time unsure: clock not synced') : '',
  ]);
  for (const line of table(['start', 'length', 'size', 'why', ''], rows, 0)) process.stdout.write(`${line.trimEnd()}\n`);
  if (r.truncated) process.stdout.write(`… more; narrow --since/--to or raise -n\n`);
  return 0;
}
