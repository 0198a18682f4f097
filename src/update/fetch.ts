import { createWriteStream, promises as fs } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { rootCertificates } from 'node:tls';
import { setTimeout as realSleep } from 'node:timers/promises';
import { CamdError, errorMessage } from '../core/errors.js';
import { withClockHint } from '../core/clock-sync.js';

/**
 * Downloads for firmware updates, over HTTPS with the system CAs (plus the owner's CA from the
 * secrets, `update.caFile`) and certificate verification always on; `file:` only for a local
 * install (camctl update <file>). A download is resumed where it stopped (HTTP Range) after a
 * dropped link — within one update by retrying, across updates because the partial file stays
 * in the downloads directory — and bounded by the size the signed manifest gives.
 */
export interface FetchOptions {
  /** PEM of an extra CA to trust besides the system ones. */
  ca?: string;
  signal?: AbortSignal;
  /** Attempts after a dropped link (each resumes). */
  retries?: number;
  /** No byte for this long = a dead link (aborted and retried). */
  stallMs?: number;
  /** First retry delay; doubles. */
  backoffMs?: number;
  onProgress?: (bytes: number, total: number) => void;
}

const DEFAULTS = { retries: 5, stallMs: 30_000, backoffMs: 1000 };

function tlsOptions(o: FetchOptions): Pick<RequestOptions, 'ca' | 'rejectUnauthorized'> {
  // `ca` replaces Node's bundle, so the system roots go in with the owner's CA.
  return { rejectUnauthorized: true, ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}) };
}

export function checkUpdateUrl(url: string, allowFile: boolean): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CamdError('invalid_args', `not a URL: ${url}`, 'url');
  }
  if (u.protocol === 'https:') return u;
  if (u.protocol === 'file:' && allowFile) return u;
  throw new CamdError('invalid_args', `updates come over https:// only${allowFile ? ' (or a local file)' : ''}, not ${u.protocol}`, 'url');
}

/** A small file (the manifest) into memory, at most `maxBytes`. */
export async function fetchSmall(url: URL, maxBytes: number, o: FetchOptions = {}): Promise<Buffer> {
  if (url.protocol === 'file:') {
    const st = await fs.stat(url).catch((err: NodeJS.ErrnoException) => {
      throw new CamdError('unavailable', `cannot read ${url.pathname}: ${err.code ?? errorMessage(err)}`, 'url');
    });
    if (st.size > maxBytes) throw new CamdError('invalid_args', `${url.pathname} is ${st.size} bytes, more than a manifest can be (${maxBytes})`, 'url');
    return fs.readFile(url);
  }
  const res = await get(url, undefined, o);
  if (res.statusCode !== 200) {
    res.resume();
    throw new CamdError('unavailable', `GET ${redact(url)}: HTTP ${res.statusCode}`, 'url');
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > maxBytes) {
      res.destroy();
      throw new CamdError('invalid_args', `${redact(url)} is larger than a manifest can be (${maxBytes} bytes)`, 'url');
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * The tarball into `part` (appending to what a previous attempt left), `total` bytes exactly.
 * Resolves once `part` holds `total` bytes; the caller checks the sha256 and renames it.
 */
export async function fetchToFile(url: URL, part: string, total: number, o: FetchOptions = {}): Promise<{ resumedFrom: number; attempts: number }> {
  const opt = { ...DEFAULTS, ...o };
  let have = await sizeOf(part);
  if (have > total) {
    await fs.rm(part, { force: true });
    have = 0;
  }
  const resumedFrom = have;
  if (url.protocol === 'file:') {
    await copyFile(url, part, total, opt);
    return { resumedFrom: 0, attempts: 1 };
  }
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await fetchOnce(url, part, total, opt);
      return { resumedFrom, attempts };
    } catch (err) {
      if (err instanceof CamdError || opt.signal?.aborted || attempts > opt.retries) throw err instanceof CamdError ? err : new CamdError('unavailable', `download of ${redact(url)} failed: ${errorMessage(err)}`, 'url');
      await realSleep(opt.backoffMs * 2 ** (attempts - 1), undefined, { signal: opt.signal }).catch(() => undefined);
    }
  }
}

async function fetchOnce(url: URL, part: string, total: number, o: Required<Pick<FetchOptions, 'stallMs'>> & FetchOptions): Promise<void> {
  let have = await sizeOf(part);
  if (have === total) return;
  const res = await get(url, have > 0 ? `bytes=${have}-` : undefined, o);
  if (res.statusCode === 416 && have > 0) {
    res.resume();
    await fs.rm(part, { force: true });
    // `bytes */<size>`: a file shorter than the signed size will never come whole — not worth a retry.
    const size = Number(/\*\/(\d+)/.exec(String(res.headers['content-range']))?.[1]);
    if (Number.isFinite(size) && size < total) throw new CamdError('invalid_args', `the server's file is ${size} bytes, the signed manifest says ${total}: truncated upstream`, 'url');
    // The server has nothing past what we hold: start over rather than trust the partial file.
    throw new Error('range not satisfiable: starting over');
  }
  if (res.statusCode === 200) {
    have = 0; // no range support (or a new file): from the start
  } else if (res.statusCode !== 206) {
    res.resume();
    throw new CamdError('unavailable', `GET ${redact(url)}: HTTP ${res.statusCode}`, 'url');
  }
  const out = createWriteStream(part, { flags: have === 0 ? 'w' : 'a', mode: 0o600 });
  let n = have;
  // Decided here, whatever 'error'/'aborted' the destroy then raises: not worth a retry.
  let fatal: CamdError | undefined;
  try {
    await new Promise<void>((resolve, rejectRaw) => {
      const reject = (err: Error): void => rejectRaw(fatal ?? err);
      let stall = setTimeout(() => res.destroy(new Error(`no data for ${o.stallMs} ms`)), o.stallMs);
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > total) {
          fatal = new CamdError('invalid_args', `the download is larger than the signed manifest says (${total} bytes)`, 'url');
          clearTimeout(stall);
          res.destroy(fatal);
          reject(fatal);
          return;
        }
        clearTimeout(stall);
        stall = setTimeout(() => res.destroy(new Error(`no data for ${o.stallMs} ms`)), o.stallMs);
        if (!out.write(c)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
        o.onProgress?.(n, total);
      });
      res.on('error', (err) => {
        clearTimeout(stall);
        reject(err);
      });
      res.on('aborted', () => {
        clearTimeout(stall);
        reject(new Error('connection closed mid-download'));
      });
      res.on('end', () => {
        clearTimeout(stall);
        if (n < total) reject(new Error(`connection ended at ${n} of ${total} bytes`));
        else resolve();
      });
    });
  } finally {
    await new Promise<void>((r) => out.end(() => r()));
  }
}

function get(url: URL, range: string | undefined, o: FetchOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: range ? { range } : {}, signal: o.signal, ...tlsOptions(o), timeout: o.stallMs ?? DEFAULTS.stallMs }, resolve);
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', (err) => {
      // Both the manifest and the tarball come through here: a certificate "not yet valid" while
      // the clock is unsynchronised is named as the clock's doing.
      err.message = withClockHint(err.message);
      reject(err);
    });
    req.end();
  });
}

async function copyFile(url: URL, part: string, total: number, o: FetchOptions): Promise<void> {
  const st = await fs.stat(url).catch((err: NodeJS.ErrnoException) => {
    throw new CamdError('unavailable', `cannot read ${url.pathname}: ${err.code ?? errorMessage(err)}`, 'url');
  });
  if (st.size !== total) throw new CamdError('invalid_args', `${url.pathname} is ${st.size} bytes, the signed manifest says ${total}`, 'url');
  await fs.copyFile(url, part);
  o.onProgress?.(total, total);
}

async function sizeOf(file: string): Promise<number> {
  return fs.stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/** URLs in errors and logs without credentials or query (a signed URL's token). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
