import { call, ControlClient } from '../client.js';
import { binaryRefusal, deliverJpeg, jpegSize, kb, replyJpeg } from './jpeg.js';
import { asProgress, ProgressLine, progressText, withStatePolling } from './progress.js';
import { obj, processIo, str, type Io } from './io.js';

export interface View360Options {
  /** 3..12 pictures round the circle (the daemon's default when absent). */
  shots?: number;
  /** `-o`: a file, or `-` for stdout; absent: kept on the card only (a card must be in use). */
  out?: string;
  json: boolean;
  io?: Io;
}

/**
 * `camctl view360 [--shots N] [-o pano.jpg]`: the PTZ lens sweeps round and the pictures are
 * stitched into one panorama (~11 s on the sim). Progress comes from state.view360 (`shot 3/8`,
 * `stitching`, `storing`): on one line on a terminal, a line per phase otherwise.
 */
export async function runView360(sock: string, opts: View360Options): Promise<number> {
  const io = opts.io ?? processIo();
  if (opts.out === undefined) {
    // Without -o the panorama stays on the card; with no card in use it would be lost.
    const st = await call(sock, 'status', {});
    const card = st.ok ? str(obj(obj(st.result).storage).status) : '';
    if (card !== 'in-use') {
      io.err.write(`camctl: view360: no card in use to keep the panorama on: give -o FILE.jpg${card ? ` (card: ${card})` : ''}\n`);
      return 2;
    }
  } else {
    const refusal = binaryRefusal(io, opts.out, 'view360');
    if (refusal) {
      io.err.write(`camctl: ${refusal}\n`);
      return 2;
    }
  }
  // Progress on stdout only when the picture does not go there.
  const line = new ProgressLine(opts.out === '-' || opts.json ? { ...io, out: io.err } : io, (opts.out === '-' ? false : io.outTty) && !opts.json);
  const t0 = Date.now();
  const reply = await withStatePolling(
    sock,
    250,
    (st) => {
      const p = asProgress(st.view360);
      if (p) line.show(`panorama: ${progressText(p)} …`, progressText(p));
    },
    async () => {
      const c = await ControlClient.connect(sock);
      try {
        return await c.request('view360', { ...(opts.shots !== undefined && { shots: opts.shots }) });
      } finally {
        c.close();
      }
    },
  );
  line.done();
  if (!reply.ok) {
    if (opts.json) io.out.write(`${JSON.stringify(reply)}\n`);
    else io.err.write(`camctl: view360: ${reply.error.message}${reply.error.path === 'shots' ? ' (--shots)' : ''}\n`);
    return 1;
  }
  const r = obj(reply.result);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (opts.out === undefined) {
    if (opts.json) io.out.write(`${JSON.stringify(reply)}\n`);
    else io.out.write(`panorama of ${str(r.shots)} shots (${kb(Number(r.bytes))}, ${secs} s) kept on the card: ${str(r.path)}\n`);
    return 0;
  }
  const jpeg = await replyJpeg(sock, r);
  const said = await deliverJpeg(io, opts.out, jpeg, `${str(r.shots)} shots, ${secs} s`);
  if (opts.out === '-') return 0;
  if (opts.json) io.out.write(`${JSON.stringify({ ok: true, file: opts.out, bytes: jpeg.length, ...jpegSize(jpeg), shots: r.shots, positions: r.positions, ...(typeof r.path === 'string' && { cardPath: r.path }) })}\n`);
  else io.out.write(`${said}\n`);
  return 0;
}
