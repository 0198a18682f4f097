/**
 * The one redaction of secrets that travel inside URLs and text: user info, stream keys (every
 * path segment after the first), query values and fragments. Used for log lines (the logger runs
 * every string field through `redactText`), command replies, events, errors and state fields, so
 * `rtmp://alice:S3cretPW@host/app/STREAMKEY` is only ever seen as `rtmp://***@host/app/***`.
 *
 * Why the first path segment stays: it is the RTMP application or the RTSP mount point, which
 * tells the owner where a push goes; anything after it is where services put keys.
 */
export const REDACTED = '***';

/** Matches a URL with an authority inside free text (ffmpeg's stderr, error messages). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]{1,15}:\/\/[\w[%][^\s"'<>`]*/gi;

/** A URL (string or parsed) with every secret-bearing part replaced by `***`. */
export function redactUrl(input: string | URL): string {
  let u: URL;
  try {
    u = typeof input === 'string' ? new URL(input) : input;
  } catch {
    // Not parseable: keep only what precedes the authority, never the rest.
    const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(String(input))?.[1];
    return scheme ? `${scheme}//${REDACTED}` : REDACTED;
  }
  if (u.protocol === 'file:') return `file://${REDACTED}`;
  const auth = u.username || u.password ? `${REDACTED}@` : '';
  // URL.host keeps IPv6 brackets and the port.
  const segments = u.pathname.split('/').filter(Boolean);
  const path = segments.length === 0 ? '' : `/${segments[0]}${segments.length > 1 ? `/${REDACTED}` : ''}`;
  const query = [...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=${REDACTED}`).join('&');
  const hash = u.hash ? `#${REDACTED}` : '';
  // Opaque-host schemes (srt://, rtmp://…) put everything after the host into pathname/search too.
  return `${u.protocol}//${auth}${u.host}${path}${query ? `?${query}` : ''}${hash}`;
}

/** Every URL inside a piece of text, redacted; the rest of the text unchanged. */
export function redactText(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (m) => redactUrl(m));
}

const MAX_DEPTH = 32;

/**
 * A JSON-like value with every string redacted (objects and arrays copied, others as they are).
 * Depth-bounded so a hostile structure cannot exhaust the stack on its way to a log line; what
 * lies deeper is replaced, not passed through unredacted (no document of camd's nests that deep).
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return `[nested deeper than ${MAX_DEPTH} levels]` as T;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, depth + 1)) as T;
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, depth + 1);
  return out as T;
}
