import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promises as fs } from 'node:fs';
import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { CamdError, errorMessage } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import { classifyAddress } from '../live/address.js';
import type { MediaTarget } from '../live/url-policy.js';
import type { OpenClip } from './clip.js';

/**
 * `recordings.upload`: one clip (clip.ts) sent with an HTTPS PUT to the presigned URL the cloud
 * gives. The URL has passed the media URL policy (use `upload`: https only, no loopback/LAN
 * target from the cloud) before this runs.
 *
 * - TLS is always verified: the system CAs plus the owner's CA from the secrets (`media.caFile`,
 *   the CA that live pushes and talk trust), `rejectUnauthorized` on, the name checked by Node.
 * - The policy checked the host's addresses; this PUT resolves the name again. Unlike an ffmpeg
 *   child, Node lets us hook that lookup: unless `live.allowLocalTargets` is on, every address it
 *   returns is classified again and a non-public one fails the connection — DNS rebinding cannot
 *   point the upload at the owner's LAN between the check and the connect.
 * - Restart from zero, not resume: a presigned PUT (S3, GCS, R2, MinIO) replaces the whole object
 *   and has no Content-Range resume; resuming needs a multipart or a resumable-session protocol
 *   with URLs of its own. A failed upload says where it stopped and why; the cloud asks again
 *   (with a fresh URL if the old one expired) and the clip is sent again from its first byte.
 * - No automatic retries: the presigned URL may have expired or been used, and only the cloud
 *   knows; it decides.
 * - A link with no progress for `stallMs` (no byte accepted, no answer) fails the upload.
 */
export interface PutOptions {
  /** PEM of the owner's CA, trusted besides the system CAs. */
  ca?: string;
  /** Re-check the addresses at connect time (off when live.allowLocalTargets is on). */
  publicOnly: boolean;
  signal?: AbortSignal;
  stallMs?: number;
  onProgress?: (bytes: number) => void;
}

const STALL_MS = 30_000;

/** Fails the connection when the name resolves to anything but public addresses. */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    for (const a of addresses) {
      const cls = classifyAddress(a.address) ?? 'reserved';
      if (cls !== 'public') {
        const e = Object.assign(new Error(`host ${JSON.stringify(hostname)} now resolves to ${a.address}, a ${cls} address (media URL policy: local-target)`), { code: 'ELOCALTARGET' });
        return callback(e, '', 0);
      }
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`host ${JSON.stringify(hostname)} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
    callback(null, first.address, first.family);
  });
};

/** Sends the clip; resolves with the HTTP status (2xx) once the server has answered. */
export function putClip(target: URL, clip: OpenClip, o: PutOptions): Promise<{ status: number }> {
  const total = clip.plan.total;
  const stallMs = o.stallMs ?? STALL_MS;
  return new Promise((resolve, reject) => {
    let sent = 0;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      body.destroy();
      req.destroy();
      void clip.close();
      reject(err);
    };
    const where = (): string => `at byte ${sent} of ${total}`;
    const req = request(target, {
      method: 'PUT',
      headers: { 'content-type': 'video/mp2t', 'content-length': String(total) },
      // `ca` replaces Node's bundle, so the system roots go in with the owner's CA.
      ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}),
      rejectUnauthorized: true,
      ...(o.publicOnly ? { lookup: publicOnlyLookup } : {}),
      // A keep-alive agent would hold the socket after the answer; one upload, one connection.
      agent: false,
    });
    const body = clip.stream();
    req.setTimeout(stallMs, () => fail(new CamdError('failed', `no progress for ${Math.round(stallMs / 1000)} s ${where()}: link stalled`, 'url')));
    o.signal?.addEventListener('abort', () => fail(new CamdError('failed', `cancelled ${where()}: ${String(o.signal?.reason ?? 'cancelled')}`, 'url')), { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => fail(new CamdError('failed', describeNetError(err, where()), 'url')));
    body.on('error', (err) => fail(err instanceof CamdError ? err : new CamdError('failed', `reading the recordings ${where()}: ${errorMessage(err)}`)));
    // Counted when the socket has taken the chunk, not when it is queued: a failure before the
    // TLS handshake is "at byte 0", and progress is what left the camera.
    body.on('data', (c: Buffer) => {
      const more = req.write(c, (err) => {
        if (err || settled) return;
        sent += c.length;
        o.onProgress?.(sent);
      });
      if (!more) {
        body.pause();
        req.once('drain', () => body.resume());
      }
    });
    body.on('end', () => req.end());
    req.on('response', (res) => {
      // Bounded: an error document names its code (S3: <Code>AccessDenied</Code>), nothing more is kept.
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (text.length < 2048) text += c;
      });
      res.on('error', (err) => fail(new CamdError('failed', describeNetError(err, where()), 'url')));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // The server has the object (a presigned PUT answers only once the Content-Length
          // bytes arrived); the callbacks of the last writes may not have run yet.
          if (settled) return;
          settled = true;
          sent = total;
          void clip.close();
          resolve({ status });
          return;
        }
        const code = /<Code>([A-Za-z0-9_.-]{1,64})<\/Code>/.exec(text)?.[1];
        fail(new CamdError('failed', `the server answered HTTP ${status}${code ? ` (${code})` : ''} ${where()}`, 'url'));
      });
    });
  });
}

function describeNetError(err: NodeJS.ErrnoException, where: string): string {
  if (err instanceof CamdError) return err.message;
  const code = err.code ?? '';
  const what: Record<string, string> = {
    ECONNRESET: 'the connection was reset by the server',
    EPIPE: 'the server closed the connection',
    ECONNREFUSED: 'the server refused the connection',
    ETIMEDOUT: 'the connection timed out',
    ENOTFOUND: 'the host does not resolve',
    ELOCALTARGET: 'refused',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: the server certificate is self-signed and not trusted',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: the server certificate is not signed by a trusted CA',
    SELF_SIGNED_CERT_IN_CHAIN: 'TLS: the server certificate chain ends in an untrusted CA',
    CERT_HAS_EXPIRED: 'TLS: the server certificate has expired',
    ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: the server certificate is for another name',
  };
  const text = what[code];
  return `upload failed ${where}: ${text ? `${text} (${code}${code === 'ELOCALTARGET' ? `: ${err.message}` : ''})` : errorMessage(err)}`;
}

export type UploadPhase = 'uploading' | 'done' | 'failed' | 'cancelled';

/** State slice `clipUpload`: the running or the last upload. */
export interface ClipUploadState {
  id: string;
  lens: string;
  from: number;
  to: number;
  /** The URL as logs show it (no query: a presigned URL's signature is a credential). */
  url: string;
  phase: UploadPhase;
  bytes: number;
  total: number;
  segments: number;
  startedAt: number;
  endedAt?: number;
  error?: string;
}

export interface UploadDeps {
  log: Logger;
  now(): number;
  state: { get(): ClipUploadState | undefined; set(s: ClipUploadState): void };
  event(type: string, data: Record<string, unknown>): void;
  /** The owner's media.caFile, if any. */
  caFile(): string | undefined;
  publicOnly(): boolean;
  stallMs?: number;
}

/** How often progress goes into the state (it is published to the cloud). */
const PROGRESS_MS = 1000;

/** One upload at a time, in the background; the command answers at once with its id and size. */
export class ClipUploads {
  private running: { id: string; abort: AbortController; done: Promise<void> } | undefined;

  constructor(private readonly deps: UploadDeps) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Starts sending `clip` (already open); throws `busy` while another upload runs. */
  async start(clip: OpenClip, target: MediaTarget): Promise<{ id: string; total: number; segments: number; start: number; end: number }> {
    const { deps } = this;
    if (this.running) {
      await clip.close();
      const cur = deps.state.get();
      throw new CamdError('busy', `an upload is running (${cur?.id}: ${cur?.bytes ?? 0} of ${cur?.total ?? 0} bytes); one at a time`);
    }
    let ca: string | undefined;
    const caFile = deps.caFile();
    if (caFile) {
      try {
        ca = await fs.readFile(caFile, 'utf8');
      } catch (err) {
        await clip.close();
        throw new CamdError('unavailable', `secrets media.caFile ${caFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'url');
      }
    }
    const { plan } = clip;
    const id = randomUUID();
    const url = redactUrl(`${target.url.protocol}//${target.url.host}${target.url.pathname}`);
    const st: ClipUploadState = { id, lens: plan.lens, from: plan.from, to: plan.to, url, phase: 'uploading', bytes: 0, total: plan.total, segments: plan.segments.length, startedAt: deps.now() };
    deps.state.set(st);
    deps.event('upload.start', { id, lens: plan.lens, from: plan.from, to: plan.to, total: plan.total, segments: plan.segments.length, url });
    deps.log.info({ id, lens: plan.lens, total: plan.total, segments: plan.segments.length, url }, 'clip upload started');
    const abort = new AbortController();
    let lastPublished = st.startedAt;
    let sent = 0;
    const t0 = performance.now();
    const done = putClip(target.url, clip, {
      ...(ca ? { ca } : {}),
      publicOnly: deps.publicOnly(),
      signal: abort.signal,
      ...(deps.stallMs ? { stallMs: deps.stallMs } : {}),
      onProgress: (bytes) => {
        sent = bytes;
        const now = deps.now();
        if (now - lastPublished < PROGRESS_MS) return;
        lastPublished = now;
        deps.state.set({ ...st, bytes });
      },
    }).then(
      ({ status }) => {
        const ms = performance.now() - t0;
        deps.state.set({ ...st, phase: 'done', bytes: plan.total, endedAt: deps.now() });
        // bits per ms = kbit/s; /1000 = Mbit/s.
        const mbps = Math.round((plan.total * 8) / Math.max(ms, 1) / 100) / 10;
        deps.event('upload.done', { id, total: plan.total, ms: Math.round(ms), status });
        deps.log.info({ id, total: plan.total, ms: Math.round(ms), mbitPerS: mbps, status }, 'clip upload done');
      },
      (err: unknown) => {
        const cancelled = abort.signal.aborted;
        const error = errorMessage(err);
        deps.state.set({ ...st, phase: cancelled ? 'cancelled' : 'failed', bytes: sent, endedAt: deps.now(), error });
        deps.event(cancelled ? 'upload.cancelled' : 'upload.failed', { id, error });
        deps.log.warn({ id, err: error }, cancelled ? 'clip upload cancelled' : 'clip upload failed');
      },
    ).finally(() => {
      this.running = undefined;
    });
    this.running = { id, abort, done };
    return { id, total: plan.total, segments: plan.segments.length, start: plan.start, end: plan.end };
  }

  /** Cancels the running upload (if any) and waits for it to wind down. */
  async cancel(reason: string): Promise<string | undefined> {
    const r = this.running;
    if (!r) return undefined;
    r.abort.abort(reason);
    await r.done;
    return r.id;
  }

  /** For tests and stop(): resolves once no upload runs. */
  async idle(): Promise<void> {
    await this.running?.done;
  }
}
