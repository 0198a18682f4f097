import { call } from '../client.js';
import { green, red } from '../format.js';
import { kb } from './jpeg.js';
import { num, obj, processIo, str, type Io } from './io.js';
import { ProgressLine } from './progress.js';

export interface UploadOptions {
  lens: string;
  /** Epoch ms (the caller parses `--from`/`--to`, as for `recordings get`). */
  from: number;
  to: number;
  /** The presigned HTTPS URL to PUT the clip to. */
  url: string;
  json: boolean;
  io?: Io;
  /** How long to follow the upload before giving up watching (it goes on in the daemon). */
  patienceMs?: number;
}

const mb = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : kb(n));

/**
 * `camctl recordings upload --lens L --from T --to T --url URL`: the daemon answers at once with
 * the upload's id and size and sends it in the background; progress is state.clipUpload (bytes
 * of total, phase), shown like `update` shows its download: one line on a terminal, a line per
 * phase otherwise. Ends with the upload: 0 when done, 1 when it failed or was cancelled.
 */
export async function runUpload(sock: string, opts: UploadOptions): Promise<number> {
  const io = opts.io ?? processIo();
  const reply = await call(sock, 'recordings.upload', { lens: opts.lens, from: opts.from, to: opts.to, url: opts.url });
  if (!reply.ok) {
    if (opts.json) io.out.write(`${JSON.stringify(reply)}\n`);
    else {
      const flag = ({ lens: '--lens', from: '--from', to: '--to', url: '--url' } as Record<string, string>)[reply.error.path ?? ''];
      io.err.write(`camctl: recordings upload: ${reply.error.message}${flag ? ` (${flag})` : ''}\n`);
    }
    return 1;
  }
  const started = obj(reply.result);
  const id = str(started.id);
  const total = num(started.total) ?? 0;
  if (!opts.json) io.out.write(`uploading ${str(started.segments)} segment(s) of ${opts.lens}, ${mb(total)} (upload ${id})\n`);
  const line = new ProgressLine(io, io.outTty && !opts.json);
  const deadline = Date.now() + (opts.patienceMs ?? 3_600_000);
  while (Date.now() < deadline) {
    const st = await call(sock, 'status', {}).catch(() => undefined);
    const u = st?.ok ? obj(obj(st.result).clipUpload) : {};
    if (str(u.id) === id) {
      const phase = str(u.phase);
      const bytes = num(u.bytes) ?? 0;
      const of = num(u.total) ?? total;
      if (phase === 'uploading') {
        if (!opts.json) line.show(`uploading ${mb(bytes)} / ${mb(of)} (${of ? Math.floor((100 * bytes) / of) : 0} %)`, phase);
      } else {
        line.done();
        if (opts.json) io.out.write(`${JSON.stringify({ ok: phase === 'done', upload: u })}\n`);
        else if (phase === 'done') io.out.write(`${green('uploaded')} ${mb(bytes)} in ${(((num(u.endedAt) ?? 0) - (num(u.startedAt) ?? 0)) / 1000).toFixed(1)} s\n`);
        else io.err.write(`camctl: upload ${red(phase)}${u.error ? `: ${str(u.error)}` : ''}\n`);
        return phase === 'done' ? 0 : 1;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  line.done();
  io.err.write(`camctl: stopped watching upload ${id}; it goes on in the daemon (camctl status shows it)\n`);
  return 1;
}
