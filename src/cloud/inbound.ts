import { CamdError } from '../core/errors.js';
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

/**
 * Decodes a JSON object payload and pulls the reserved correlation key out of it. Throws a
 * CamdError with a precise code (too_large, malformed, invalid_args) for anything else; the
 * requestId found so far is attached so even that error reply can carry it.
 */
export function decodeObject(payload: Buffer, requestKey: string): { doc: Record<string, unknown>; requestId?: string } {
  if (payload.length > MAX_INBOUND_BYTES) {
    throw new CamdError('too_large', `payload of ${payload.length} bytes exceeds the ${MAX_INBOUND_BYTES}-byte limit`);
  }
  if (payload.length === 0) return { doc: {} };
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
    const raw: unknown = JSON.parse(payload.toString('utf8'));
    const id = isPlainObject(raw) ? raw[requestKey] : undefined;
    return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
  } catch {
    return undefined;
  }
}
