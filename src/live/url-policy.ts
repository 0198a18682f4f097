import { CamdError } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import { classifyAddress, resolveHost, systemResolver, type Resolver } from './address.js';
import { parseMediaUrl, PUSH_PROTOCOLS, TALK_PROTOCOLS } from './url.js';

/** http is accepted by the parser only so that the plaintext rule refuses it by name. */
const UPLOAD_PROTOCOLS = ['https:', 'http:'] as const;

/**
 * The media URL policy: what a URL handed to `live.start`, `talk.start` (or anything else that
 * makes an ffmpeg child open a URL) may make the camera do. The cloud may choose where video goes
 * and where talk audio comes from; it may not make the camera listen, send in the clear or reach
 * into the owner's network (DESIGN.md "Trust model"). Every refusal is `forbidden` with the rule.
 *
 * What ffmpeg (5.1, Debian 12) reads from a URL, from its sources and checked against the binary:
 *  - srt (libsrt.c): ~30 options from the query through av_find_info_tag — among them
 *    `mode=listener` (bind and accept on the host given, 0.0.0.0 = every interface) and
 *    `mode=rendezvous` (bind the local port). Read from the first `?` to the end of the string,
 *    split on `&`, no %-decoding, `+` read as a blank, a `#fragment` read as part of the query.
 *  - rtmp/rtmps (rtmpproto.c): nothing; the query is part of the app/stream name sent to the
 *    server. Listening is an AVOption only (`-listen`, `-timeout`), and rtmps opens
 *    `tls://host:port` with no query of the caller's.
 *  - rtsp/rtsps (rtsp.c): bare words in the query are its own flags (`udp`, `multicast`, `tcp`,
 *    `http`, `filter_src`…; `udp`/`multicast` bind local RTP ports); `key=value` items are passed
 *    to the server untouched.
 *  - http/https (http.c): nothing; the query is part of the request. `listen` is an AVOption only.
 *  - tcp/udp/tls (not schemes we accept): `listen`, `localport`, `localaddr`, `reuse`, `cafile`,
 *    `verify`… from their own queries — never reachable, since no accepted scheme passes the
 *    caller's query down to them.
 */

/** `upload`: an HTTPS PUT of a recorded clip by camd itself (src/storage/upload.ts), not ffmpeg. */
export type MediaUse = 'push' | 'talk' | 'upload';

interface SchemeRule {
  /** TLS whose server certificate and name ffmpeg checks when given `-tls_verify 1` (measured). */
  verifiedTls: boolean;
  /** No confidentiality against the network: needs `live.allowPlaintext`. */
  plaintext: (u: URL) => boolean;
  /** The child's protocol whitelist: everything ffmpeg may open for this URL. */
  protocols: readonly string[];
  query: 'srt' | 'rtsp' | 'opaque';
  /** Option names of the scheme's own ffmpeg handler: never query keys, should a later ffmpeg start reading them. */
  optionNames: readonly string[];
  /** ffmpeg refuses the URL without one ("Port missing in uri"). */
  needsPort?: boolean;
}

const RTMP_OPTIONS = [
  'listen', 'rtmp_listen', 'timeout', 'tcp_nodelay', 'rtmp_app', 'rtmp_buffer', 'rtmp_conn', 'rtmp_flashver', 'rtmp_flush_interval',
  'rtmp_live', 'rtmp_pageurl', 'rtmp_playpath', 'rtmp_subscribe', 'rtmp_swfhash', 'rtmp_swfsize', 'rtmp_swfurl', 'rtmp_swfverify', 'rtmp_tcurl',
  'ca_file', 'cafile', 'tls_verify', 'verifyhost', 'cert_file', 'key_file',
];
const RTSP_OPTIONS = [
  'listen', 'rtsp_flags', 'rtsp_transport', 'listen_timeout', 'timeout', 'min_port', 'max_port', 'localport', 'localaddr', 'initial_pause',
  'allowed_media_types', 'reorder_queue_size', 'buffer_size', 'pkt_size', 'rtpflags', 'user_agent',
  'ca_file', 'cafile', 'tls_verify', 'verifyhost', 'cert_file', 'key_file',
];
const HTTP_OPTIONS = [
  'listen', 'method', 'headers', 'resource', 'reply_code', 'location', 'http_proxy', 'post_data', 'content_type', 'chunked_post', 'cookies',
  'user_agent', 'referer', 'multiple_requests', 'auth_type', 'send_expect_100', 'seekable', 'offset', 'end_offset', 'icy', 'reconnect',
  'reconnect_at_eof', 'reconnect_streamed', 'reconnect_on_network_error', 'reconnect_on_http_error', 'reconnect_delay_max', 'max_redirects',
  'short_seek_size', 'ca_file', 'cafile', 'tls_verify', 'verifyhost', 'cert_file', 'key_file',
];

const always = (): boolean => true;
const never = (): boolean => false;

const SCHEMES: Record<string, SchemeRule> = {
  'rtmp:': { verifiedTls: false, plaintext: always, protocols: ['rtmp', 'tcp'], query: 'opaque', optionNames: RTMP_OPTIONS },
  'rtmps:': { verifiedTls: true, plaintext: never, protocols: ['rtmps', 'tls', 'tcp'], query: 'opaque', optionNames: RTMP_OPTIONS },
  'rtsp:': { verifiedTls: false, plaintext: always, protocols: ['tcp'], query: 'rtsp', optionNames: RTSP_OPTIONS },
  // ffmpeg's RTSP client opens its TLS connection without the caller's options (rtsp.c passes
  // none), so -tls_verify never reaches it: the server is not authenticated, which protects
  // against nobody on the path. Counted as plaintext.
  'rtsps:': { verifiedTls: false, plaintext: always, protocols: ['tls', 'tcp'], query: 'rtsp', optionNames: RTSP_OPTIONS },
  // SRT encrypts (AES) only with a passphrase; libsrt does its own UDP, no ffmpeg protocol below.
  'srt:': { verifiedTls: false, plaintext: (u) => !ffmpegQuery(u.href).some((q) => q.key === 'passphrase'), protocols: ['srt'], query: 'srt', optionNames: [], needsPort: true },
  'http:': { verifiedTls: false, plaintext: always, protocols: ['http', 'tcp'], query: 'opaque', optionNames: HTTP_OPTIONS },
  'https:': { verifiedTls: true, plaintext: never, protocols: ['https', 'tls', 'tcp'], query: 'opaque', optionNames: HTTP_OPTIONS },
};

const digits = (min: number, max: number) => (v: string | undefined): boolean => v !== undefined && /^\d{1,12}$/.test(v) && Number(v) >= min && Number(v) <= max;
const oneOf = (...ok: string[]) => (v: string | undefined): boolean => v !== undefined && ok.includes(v);
const length = (min: number, max: number) => (v: string | undefined): boolean => v !== undefined && v.length >= min && v.length <= max;
const BIG = 1e12;

/**
 * The SRT query keys a caller-mode push or talk may use, with their values. Everything else is
 * refused: `listen_timeout` (listener only), `enforced_encryption` (a passphrase must stay
 * enforced), `ipttl`/`iptos`, `smoother`, `messageapi`, `minversion`, buffer sizes, and any key
 * a later ffmpeg may add.
 */
const SRT_KEYS: Record<string, (v: string | undefined) => boolean> = {
  mode: oneOf('caller'),
  passphrase: length(10, 79), // libsrt's limits
  pbkeylen: oneOf('16', '24', '32'),
  streamid: length(1, 512),
  latency: digits(0, BIG),
  rcvlatency: digits(0, BIG),
  peerlatency: digits(0, BIG),
  tsbpddelay: digits(0, BIG),
  connect_timeout: digits(0, BIG),
  timeout: digits(0, BIG),
  maxbw: digits(0, BIG),
  inputbw: digits(0, BIG),
  oheadbw: digits(5, 100),
  pkt_size: digits(0, 1456),
  payload_size: digits(0, 1456),
  mss: digits(76, 1500),
  ffs: digits(32, BIG),
  sndbuf: digits(0, BIG),
  rcvbuf: digits(0, BIG),
  lossmaxttl: digits(0, BIG),
  tlpktdrop: oneOf('0', '1'),
  nakreport: oneOf('0', '1'),
  transtype: oneOf('live'),
  linger: digits(0, 3600),
  kmrefreshrate: digits(0, BIG),
  kmpreannounce: digits(0, BIG),
  snddropdelay: digits(0, BIG),
};

export interface QueryItem {
  key: string;
  value: string | undefined;
}

/**
 * The query as ffmpeg's av_find_info_tag reads it (libavutil/parseutils.c): from the first `?`
 * of the whole string to its end, items split on `&`, the key up to `=`, no %-decoding, `+` in a
 * value read as a blank — and a `#fragment` read as part of the query: "?a=1#&mode=listener" is
 * mode=listener to ffmpeg, while a URL parser sets "#&mode=listener" aside as the fragment (and
 * SRT stream ids like "#!::r=live" rely on ffmpeg reading it so). The policy judges exactly what
 * ffmpeg will act on.
 */
export function ffmpegQuery(href: string): QueryItem[] {
  const q = href.indexOf('?');
  if (q < 0) return [];
  return href
    .slice(q + 1)
    .split('&')
    .filter((item) => item !== '')
    .map((item) => {
      const eq = item.indexOf('=');
      return eq < 0 ? { key: item, value: undefined } : { key: item.slice(0, eq), value: item.slice(eq + 1).replace(/\+/g, ' ') };
    });
}

function forbidden(rule: string, why: string): CamdError {
  return new CamdError('forbidden', `url: ${why} (media URL policy: ${rule})`, 'url');
}

/** A key as it appears in a message: never a value (values carry secrets), and bounded. */
function keyText(key: string): string {
  return JSON.stringify(key.length > 32 ? `${key.slice(0, 32)}…` : key);
}

function decoded(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return key.toLowerCase();
  }
}

function checkQuery(u: URL, rule: SchemeRule): void {
  const scheme = u.protocol.replace(':', '');
  // av_find_info_tag reads from the first "?", ffmpeg's RTSP client from the last one (rtsp.c,
  // strrchr): with one "?" both read the same items.
  if (u.href.indexOf('?') !== u.href.lastIndexOf('?')) throw forbidden('query-syntax', 'a second "?" in the URL is read differently by ffmpeg\'s protocols');
  const items = ffmpegQuery(u.href);
  if (rule.query === 'srt') {
    // The rule that matters most speaks first, wherever in the query the mode is.
    const mode = items.find((q) => q.key === 'mode' && q.value !== undefined && /^(listener|rendezvous)$/i.test(q.value.trim()));
    if (mode) throw forbidden('no-listener', `srt mode=${mode.value!.trim().toLowerCase()} would make the camera accept connections; only mode=caller is allowed`);
  }
  for (const { key, value } of items) {
    if (rule.query === 'srt') {
      const ok = SRT_KEYS[key];
      if (!ok) throw forbidden('query-key', `srt option ${keyText(key)} is not allowed (allowed: ${Object.keys(SRT_KEYS).join(', ')})`);
      if (!ok(value)) throw forbidden('query-value', `srt option ${keyText(key)} has a value that is not allowed`);
      continue;
    }
    const names = [key.toLowerCase(), decoded(key)];
    if (rule.optionNames.some((n) => names.includes(n))) {
      throw forbidden('query-key', `${keyText(key)} is an ffmpeg ${scheme} option, not a parameter for the server`);
    }
    if (rule.query === 'rtsp' && value === undefined) {
      // udp, multicast, tcp, http, filter_src… change how ffmpeg connects; key=value items go to the server.
      throw forbidden('query-key', `a bare ${keyText(key)} in an ${scheme} query is an ffmpeg transport flag; only key=value parameters are allowed`);
    }
  }
}

export interface MediaPolicySettings {
  /** `live.allowPlaintext` (local-only setting). */
  allowPlaintext: boolean;
  /** `live.allowLocalTargets` (local-only setting). */
  allowLocalTargets: boolean;
  /** `file:` URLs: local callers on the sim board only. */
  allowFile?: boolean;
}

export interface MediaTarget {
  url: URL;
  /** For logs, replies, events and state (src/core/redact.ts). */
  redacted: string;
  /** The child must be given -tls_verify 1 and the CA bundle. */
  verifyTls: boolean;
  /** The transport is not confidential (allowed because live.allowPlaintext is on). */
  plaintext: boolean;
  /** The child's -protocol_whitelist. */
  protocols: readonly string[];
}

/**
 * Everything that can be judged without the network: shape, scheme, host form, query,
 * plaintext. Throws `invalid_args` for a malformed URL, `forbidden` (naming the rule) for one
 * the policy refuses.
 */
export function inspectMediaUrl(raw: string, use: MediaUse, settings: MediaPolicySettings): MediaTarget {
  const url = parseMediaUrl(raw, use === 'push' ? PUSH_PROTOCOLS : use === 'upload' ? UPLOAD_PROTOCOLS : TALK_PROTOCOLS, { allowFile: use === 'talk' && settings.allowFile });
  if (url.protocol === 'file:') return { url, redacted: redactUrl(url), verifyTls: false, plaintext: false, protocols: ['file'] };
  const rule = SCHEMES[url.protocol]!;
  const scheme = url.protocol.replace(':', '');
  // 2130706433, 0x7f.1, 127.1, 0177.0.0.1: getaddrinfo reads them all as 127.0.0.1. Only the
  // canonical dotted form is an address; anything else ending in a number is an evasion.
  const host = url.hostname.replace(/\.$/, '');
  if (!host.startsWith('[') && /(^|\.)(0x[0-9a-f]*|\d+)$/i.test(host) && classifyAddress(host) === undefined) {
    throw forbidden('numeric-host', `host ${JSON.stringify(url.hostname)} is a number but not a dotted IPv4 address`);
  }
  if (rule.needsPort && !url.port) throw new CamdError('invalid_args', `url: ${scheme} needs a port`, 'url');
  checkQuery(url, rule);
  const plaintext = rule.plaintext(url);
  // Clips go over https only, whatever live.allowPlaintext says: the uploader speaks nothing else.
  if (plaintext && (use === 'upload' || !settings.allowPlaintext)) {
    const why =
      url.protocol === 'rtsps:'
        ? "rtsps is treated as plaintext: ffmpeg's RTSP client cannot verify the server's certificate"
        : url.protocol === 'srt:'
          ? 'srt without a passphrase is not encrypted'
          : `${scheme} is not encrypted`;
    if (use === 'upload') throw forbidden('plaintext', `${why}; clips are uploaded over https only`);
    throw forbidden('plaintext', `${why}; use ${use === 'push' ? 'rtmps, or srt with a passphrase' : 'https, rtmps, or srt with a passphrase'} (live.allowPlaintext is off)`);
  }
  return { url, redacted: redactUrl(url), verifyTls: rule.verifiedTls, plaintext, protocols: rule.protocols };
}

/**
 * The whole policy: `inspectMediaUrl`, then (unless `live.allowLocalTargets`) the host's
 * addresses — every one the resolver gives, as ffmpeg may use any — must be public. A host that
 * does not resolve is refused too (`unavailable`): ffmpeg's own lookup must not be the first.
 *
 * Residual risk: ffmpeg resolves the name again when it connects; a DNS server that answers
 * differently the second time (DNS rebinding) can still point it at a local address. Pinning the
 * address is not possible without breaking TLS name checks and RTMP/RTSP virtual hosts.
 */
export async function checkMediaUrl(raw: string, use: MediaUse, settings: MediaPolicySettings, resolver: Resolver = systemResolver): Promise<MediaTarget> {
  const target = inspectMediaUrl(raw, use, settings);
  if (target.url.protocol === 'file:' || settings.allowLocalTargets) return target;
  const host = target.url.hostname;
  let addresses: string[];
  try {
    addresses = await resolveHost(host, resolver);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CamdError('unavailable', `url: host ${JSON.stringify(host)} does not resolve (${code})`, 'url');
  }
  if (addresses.length === 0) throw new CamdError('unavailable', `url: host ${JSON.stringify(host)} does not resolve`, 'url');
  for (const a of addresses) {
    const cls = classifyAddress(a) ?? 'reserved';
    if (cls !== 'public') {
      const via = host.replace(/^\[(.*)\]$/, '$1') === a ? '' : ` resolves to ${a}, which`;
      throw forbidden('local-target', `host ${JSON.stringify(host)}${via} is a ${cls} address; only public hosts are allowed (live.allowLocalTargets is off)`);
    }
  }
  return target;
}
