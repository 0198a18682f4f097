import { CamdError } from '../core/errors.js';
import { assertJsonDepth } from '../core/json-depth.js';
import { isPlainObject } from '../config/merge.js';

/** An MQTT message as the cloud link hands it over (only what the routers need). */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  /** Set on a message replayed from the broker's retained store. */
  retain: boolean;
  responseTopic?: string;
  correlationData?: Buffer;
}

/** Largest command or desired-config payload accepted; larger ones get a `too_large` answer. */
export const MAX_INBOUND_BYTES = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Decodes a JSON object payload and pulls the reserved correlation key out of it. Throws a
 * CamdError with a precise code (too_large, malformed, invalid_args) for anything else; the
 * requestId found so far is attached so even that error reply can carry it.
 *
 * - A UTF-8 byte order mark is refused (`malformed`): JSON on the wire has none (RFC 8259 §8.1),
 *   and accepting it silently would make this the one place where one is tolerated.
 * - Nesting deeper than MAX_JSON_DEPTH (32) is refused (`invalid_args`, path = where it gets too
 *   deep) before anything walks the value: without the limit a deep payload overflowed the stack
 *   in the recursive code after the parser and came back as `failed`.
 */
export function decodeObject(payload: Buffer, requestKey: string): { doc: Record<string, unknown>; requestId?: string } {
  if (payload.length > MAX_INBOUND_BYTES) {
    throw new CamdError('too_large', `payload of ${payload.length} bytes exceeds the ${MAX_INBOUND_BYTES}-byte limit`);
  }
  if (payload.length === 0) return { doc: {} };
  if (payload.subarray(0, 3).equals(BOM)) {
    throw new CamdError('malformed', 'payload starts with a UTF-8 byte order mark; send plain UTF-8 JSON');
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new CamdError('malformed', 'payload is not valid UTF-8');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CamdError('malformed', `payload is not valid JSON: ${err instanceof Error ? err.message.slice(0, 120) : 'parse error'}`);
  }
  if (!isPlainObject(raw)) throw new CamdError('invalid_args', 'payload must be a JSON object', '');
  assertJsonDepth(raw);
  if (!(requestKey in raw)) return { doc: raw };
  const { [requestKey]: id, ...doc } = raw;
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
    throw new CamdError('invalid_args', `${requestKey} must be a string of 1-128 characters`, requestKey);
  }
  return { doc, requestId: id };
}

/** The requestId, read leniently, for answering a payload that failed to decode. */
export function peekRequestId(payload: Buffer, requestKey: string): string | undefined {
  if (payload.length > MAX_INBOUND_BYTES) return undefined;
  try {
    // A refused BOM still gets its requestId echoed, so a 3.1.1 caller can match the error.
    const raw: unknown = JSON.parse(payload.toString('utf8').replace(/^\uFEFF/, ''));
    const id = isPlainObject(raw) ? raw[requestKey] : undefined;
    return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
  } catch {
    return undefined;
  }
}
