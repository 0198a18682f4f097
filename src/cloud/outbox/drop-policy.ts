import type { OutRecord } from './record.js';

/**
 * What to remove when the outbox is over its byte bound, as plain data (planned before anything
 * is touched, so the `outbox.dropped` marker can be made durable first).
 *
 * Policy, applied oldest first and stopping as soon as enough bytes are free:
 *  0. records already delivered (seq ≤ acked) in the segments being rewritten — free, not counted;
 *  1. pass `low`: undelivered low-priority events (system, ptz, live, button);
 *  2. pass `any`: undelivered events of any kind.
 * Records in flight (sent, PUBACK pending) are never dropped.
 */
export type DropPass = 'low' | 'any';

export interface DroppedInfo {
  seq: number;
  kind: string;
  ts: number;
  bytes: number;
}

export interface SegmentDrop {
  /** Undelivered records dropped (they are counted and reported). */
  dropped: DroppedInfo[];
  /** Bytes freed, delivered records included. */
  freed: number;
  /** Whether the segment holds anything to remove at all (i.e. must be rewritten). */
  touched: boolean;
}

export function planSegmentDrop(
  records: readonly OutRecord[],
  opts: { pass: DropPass; need: number; acked: number; sentSeq: number; already?: ReadonlySet<number>; countAcked?: boolean },
): SegmentDrop {
  const dropped: DroppedInfo[] = [];
  let freed = 0;
  let touched = false;
  for (const r of records) {
    if (opts.already?.has(r.seq) || opts.countAcked === false) continue;
    if (r.seq <= opts.acked) {
      freed += r.bytes;
      touched = true;
    }
  }
  for (const r of records) {
    if (freed >= opts.need) break;
    if (opts.already?.has(r.seq) || r.seq <= opts.sentSeq) continue;
    if (opts.pass === 'low' && r.prio !== 'l') continue;
    dropped.push({ seq: r.seq, kind: r.kind, ts: r.ts, bytes: r.bytes });
    freed += r.bytes;
    touched = true;
  }
  return { dropped, freed, touched };
}

/**
 * The whole plan over the outbox's segments, oldest first: pass `low` over every segment, then
 * pass `any`, stopping once `need` bytes are free. Reads one segment at a time (memory stays at
 * one segment plus the dropped sequence numbers).
 */
export async function planDrops<S>(
  segments: readonly S[],
  read: (s: S) => Promise<readonly OutRecord[]>,
  opts: { need: number; acked: number; sentSeq: number },
): Promise<{ drops: Map<S, Set<number>>; dropped: DroppedInfo[] }> {
  let need = opts.need;
  const drops = new Map<S, Set<number>>();
  const dropped: DroppedInfo[] = [];
  for (const pass of ['low', 'any'] as DropPass[]) {
    for (const s of segments) {
      if (need <= 0) break;
      const already = drops.get(s);
      const plan = planSegmentDrop(await read(s), { pass, need, acked: opts.acked, sentSeq: opts.sentSeq, already, countAcked: !already });
      if (!plan.touched) continue;
      need -= plan.freed;
      const set = already ?? new Set<number>();
      for (const d of plan.dropped) {
        set.add(d.seq);
        dropped.push(d);
      }
      drops.set(s, set);
    }
  }
  return { drops, dropped };
}

export interface DropSummary {
  count: number;
  bytes: number;
  byKind: Record<string, number>;
  fromSeq: number;
  toSeq: number;
  firstTs: number;
  lastTs: number;
}

export function summarize(dropped: readonly DroppedInfo[]): DropSummary | undefined {
  if (dropped.length === 0) return undefined;
  const byKind: Record<string, number> = {};
  let bytes = 0;
  let fromSeq = Infinity;
  let toSeq = 0;
  let firstTs = Infinity;
  let lastTs = 0;
  for (const d of dropped) {
    byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
    bytes += d.bytes;
    fromSeq = Math.min(fromSeq, d.seq);
    toSeq = Math.max(toSeq, d.seq);
    firstTs = Math.min(firstTs, d.ts);
    lastTs = Math.max(lastTs, d.ts);
  }
  return { count: dropped.length, bytes, byKind, fromSeq, toSeq, firstTs, lastTs };
}
