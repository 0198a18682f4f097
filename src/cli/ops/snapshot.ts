import { call } from '../client.js';
import { binaryRefusal, deliverJpeg, jpegSize, replyJpeg } from './jpeg.js';
import { obj, processIo, str, type Io } from './io.js';

export interface SnapshotOptions {
  lens: string;
  /** `-o`: a file, or `-` for stdout; absent = stdout when it is not a terminal. */
  out?: string;
  json: boolean;
  io?: Io;
}

/**
 * `camctl snapshot --lens wide|ptz -o file.jpg`: a JPEG of the lens now. The daemon keeps it on
 * the card when one is in use (camctl reads it from there) or sends it inline; either way camctl
 * writes the file atomically and says what it wrote. Binary never goes to a terminal: without
 * -o on a terminal it refuses before asking the daemon, with a hint.
 */
export async function runSnapshot(sock: string, opts: SnapshotOptions): Promise<number> {
  const io = opts.io ?? processIo();
  const refusal = binaryRefusal(io, opts.out, 'snapshot');
  if (refusal) {
    io.err.write(`camctl: ${refusal}\n`);
    return 2;
  }
  const reply = await call(sock, 'snapshot', { lens: opts.lens });
  if (!reply.ok) {
    io.err.write(`camctl: snapshot: ${reply.error.message}${reply.error.path === 'lens' ? ' (--lens)' : ''}\n`);
    return 1;
  }
  const r = obj(reply.result);
  const jpeg = await replyJpeg(sock, r);
  const out = opts.out ?? '-';
  const said = await deliverJpeg(io, out, jpeg, opts.lens);
  if (out === '-') return 0;
  if (opts.json) {
    const size = jpegSize(jpeg);
    io.out.write(`${JSON.stringify({ ok: true, file: out, lens: opts.lens, ts: r.ts, bytes: jpeg.length, ...size, ...(typeof r.path === 'string' && { cardPath: r.path }) })}\n`);
  } else {
    io.out.write(`${said}\n`);
    if (typeof r.path === 'string') io.out.write(`  also kept on the card: ${str(r.path)}\n`);
    if (typeof r.cardError === 'string') io.err.write(`camctl: the card could not keep it: ${r.cardError}\n`);
  }
  return 0;
}
