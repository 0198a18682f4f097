import { CamdError } from '../core/errors.js';

export const PUSH_PROTOCOLS = ['rtsp:', 'rtsps:', 'rtmp:', 'rtmps:', 'srt:'] as const;
export const TALK_PROTOCOLS = ['http:', 'https:', 'rtsp:', 'rtsps:', 'rtmp:', 'rtmps:', 'srt:'] as const;

/** Schemes whose host the WHATWG parser normalises (IPv4 forms, case, IDNA); the rest keep it as written. */
const SPECIAL = new Set(['http:', 'https:']);

/**
 * The shape of a URL the cloud hands over (what ffmpeg gets is `url.href`): only the listed
 * schemes, no blanks or control characters (it ends up as one ffmpeg argument), a host that is a
 * DNS name or an IP address, a real port. `file:` is accepted only where the caller allows it
 * (local commands on the sim board: tests and the developer's camctl). What a well-formed URL may
 * make the camera do is the media URL policy's business (url-policy.ts).
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
  // For rtmp/rtsp/srt the host is passed to getaddrinfo as written: only plain names and IP
  // literals, so the host checked is the host ffmpeg connects to (no %-escapes, no oddities).
  if (!SPECIAL.has(u.protocol) && !/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9.])?)$/i.test(u.hostname)) {
    throw new CamdError('invalid_args', 'url: the host must be a DNS name or an IP address', 'url');
  }
  if (u.port === '0') throw new CamdError('invalid_args', 'url: port 0 is not a port', 'url');
  return u;
}

/** The ffmpeg output format for a push URL. */
export function pushFormat(u: URL): string[] {
  switch (u.protocol) {
    case 'rtsp:':
    case 'rtsps:':
      // TCP interleaved: RTP over UDP would bind local ports that accept packets from anyone.
      return ['-f', 'rtsp', '-rtsp_transport', 'tcp'];
    case 'rtmp:':
    case 'rtmps:':
      return ['-f', 'flv'];
    default:
      return ['-f', 'mpegts'];
  }
}
