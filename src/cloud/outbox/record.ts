import { crc32 } from 'node:zlib';
import type { CameraEvent, CameraEventKind } from '../../state/bus.js';

/**
 * One outbox record per line in a segment file:
 *
 *   <seq>\t<kind>\t<prio>\t<ts>\t<crc32 hex>\t<payload JSON>\n
 *
 * The payload is exactly what is published on `events`. The header carries what the drop policy
 * needs (kind, priority, time) without parsing the JSON; the CRC (over everything before it plus
 * the payload) catches torn writes after a power cut and bit rot. JSON.stringify escapes tabs
 * and newlines inside strings, so they never occur in the payload.
 */
export type Priority = 'h' | 'l';

export interface OutRecord {
  seq: number;
  kind: string;
  prio: Priority;
  ts: number;
  payload: string;
  /** Byte length of the whole line, newline included. */
  bytes: number;
}

/** The published form of an event: the bus event plus its outbox sequence number. */
export type EventPayload = CameraEvent & { seq: number };

/** Largest payload stored as is; bigger `data` is replaced by a note (see toPayload). */
export const MAX_EVENT_BYTES = 32 * 1024;

/**
 * Kinds that may be dropped first when the outbox is full during a long outage: informational
 * events whose loss the owner barely notices. Detections, alarms, storage problems and errors
 * are what the camera is for; they go only when nothing low-priority is left (oldest first).
 */
const LOW_PRIORITY_KINDS: ReadonlySet<CameraEventKind> = new Set(['system', 'ptz', 'live', 'button']);
export const DROP_MARKER_TYPE = 'outbox.dropped';

export function priorityOf(ev: Pick<CameraEvent, 'kind' | 'type'>): Priority {
  if (ev.type === DROP_MARKER_TYPE) return 'h';
  return LOW_PRIORITY_KINDS.has(ev.kind) ? 'l' : 'h';
}

/** The JSON published for an event; oversize or unserialisable `data` is replaced, never the event. */
export function toPayload(ev: CameraEvent, seq: number): string {
  const base = { id: ev.id, ts: ev.ts, kind: ev.kind, type: ev.type, ...(ev.lens !== undefined && { lens: ev.lens }), ...(ev.clockSynced !== undefined && { clockSynced: ev.clockSynced }) };
  let text: string | undefined;
  let problem: string | undefined;
  try {
    text = JSON.stringify({ ...base, ...(ev.data !== undefined && { data: ev.data }), seq } satisfies EventPayload);
  } catch (err) {
    problem = `data not serialisable: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (text !== undefined && Buffer.byteLength(text) <= MAX_EVENT_BYTES) return text;
  const data = problem ? { truncated: true, reason: problem } : { truncated: true, reason: 'data too large', bytes: Buffer.byteLength(text ?? '') };
  return JSON.stringify({ ...base, data, seq });
}

export function encodeRecord(seq: number, kind: string, prio: Priority, ts: number, payload: string): string {
  const head = `${seq}\t${kind}\t${prio}\t${ts}`;
  const crc = crc32(`${head}\t${payload}`).toString(16).padStart(8, '0');
  return `${head}\t${crc}\t${payload}\n`;
}

export interface ScanResult {
  records: OutRecord[];
  /** Bytes of complete, valid lines from the start (a torn tail is cut here). */
  goodBytes: number;
  /** Complete lines that failed their CRC or shape (skipped, logged by the caller). */
  corrupt: number;
  /** Bytes after the last newline: a write cut short by a crash. */
  tornBytes: number;
}

/** Parses a segment's bytes; `onRecord` lets callers filter without keeping every record. */
export function scanRecords(buf: Buffer, keep: (r: OutRecord) => boolean = () => true): ScanResult {
  const records: OutRecord[] = [];
  let pos = 0;
  let corrupt = 0;
  let goodBytes = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) break;
    const line = buf.toString('utf8', pos, nl);
    const bytes = nl + 1 - pos;
    pos = nl + 1;
    const rec = parseLine(line, bytes);
    if (rec) {
      if (keep(rec)) records.push(rec);
    } else corrupt++;
    goodBytes = pos;
  }
  return { records, goodBytes, corrupt, tornBytes: buf.length - goodBytes };
}

function parseLine(line: string, bytes: number): OutRecord | undefined {
  const parts = line.split('\t');
  if (parts.length !== 6) return undefined;
  const [seqS, kind, prio, tsS, crcS, payload] = parts as [string, string, string, string, string, string];
  if (!/^\d+$/.test(seqS) || !/^\d+$/.test(tsS) || (prio !== 'h' && prio !== 'l')) return undefined;
  const crc = crc32(`${seqS}\t${kind}\t${prio}\t${tsS}\t${payload}`).toString(16).padStart(8, '0');
  if (crc !== crcS) return undefined;
  return { seq: Number(seqS), kind, prio, ts: Number(tsS), payload, bytes };
}
