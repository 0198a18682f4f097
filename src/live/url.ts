import { CamdError } from '../core/errors.js';

export const PUSH_PROTOCOLS = ['rtsp:', 'rtsps:', 'rtmp:', 'rtmps:', 'srt:'] as const;
export const TALK_PROTOCOLS = ['http:', 'https:', 'rtsp:', 'rtsps:', 'rtmp:', 'rtmps:', 'srt:'] as const;

/**
 * Validates a URL the cloud hands over. Only the listed schemes, a host, no blanks or control
 * characters (they end up as one ffmpeg argument). `file:` is accepted only where the caller
 * allows it (local commands on the sim board: tests and the developer's camctl).
 */
export function parseMediaUrl(raw: string, allowed: readonly string[], opts: { allowFile?: boolean } = {}): URL {
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) throw new CamdError('invalid_args', 'url: must not contain blanks or control characters', 'url');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CamdError('invalid_args', `url: not a valid URL`, 'url');
  }
  if (u.protocol === 'file:' && opts.allowFile) return u;
  if (!allowed.includes(u.protocol)) {
    throw new CamdError('invalid_args', `url: scheme ${u.protocol.replace(':', '')} not supported (use ${allowed.map((p) => p.replace(':', '')).join(', ')})`, 'url');
  }
  if (!u.hostname) throw new CamdError('invalid_args', 'url: has no host', 'url');
  return u;
}

/** For logs and state: scheme, host and port only. Stream keys, passphrases and paths are secrets. */
export function redactUrl(u: URL): string {
  if (u.protocol === 'file:') return 'file://…';
  return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname && u.pathname !== '/' ? '/…' : ''}`;
}

/** The ffmpeg output format for a push URL. */
export function pushFormat(u: URL): string[] {
  switch (u.protocol) {
    case 'rtsp:':
    case 'rtsps:':
      return ['-f', 'rtsp', '-rtsp_transport', 'tcp'];
    case 'rtmp:':
    case 'rtmps:':
      return ['-f', 'flv'];
    default:
      return ['-f', 'mpegts'];
  }
}

/** What talk playback's ffmpeg may open: the network protocols, and file only when allowed. */
export function talkProtocolWhitelist(u: URL): string {
  const net = 'http,https,tcp,tls,crypto,httpproxy,rtsp,rtsps,rtp,udp,rtmp,rtmps,srt';
  return u.protocol === 'file:' ? `file,${net}` : net;
}
