import { expect } from 'vitest';
import { EventPayloadSchema } from '../../src/cloud/schema.js';
import type { DaemonProc } from '../harness/daemon.js';
import { waitUntil } from '../harness/wait.js';
import type { CloudClient } from '../integration/cloud-helpers.js';

/**
 * Bookkeeping for "events emitted during an outage arrive": every acknowledged burst (the reply
 * of `sim.emit-event` comes once the events are on flash) must reach an independent subscriber
 * in full; duplicates are counted; the durable sequence is in order and without a gap.
 */
export class EventLedger {
  readonly acked = new Set<string>();
  private received = 0;
  private readonly first = new Map<string, { seq: number; key?: string; n?: number }>();
  total = 0;

  constructor(
    private readonly cloud: CloudClient,
    private readonly topic: string,
    readonly count = 300,
  ) {}

  /** Emits one burst tagged `key`; records it as acknowledged when the daemon says it is on flash. */
  /** Resolves with the outbox depth the daemon reported right after the burst reached flash. */
  async emit(d: DaemonProc, key: string): Promise<number> {
    const r = await d.call('sim.emit-event', { count: this.count, kind: 'detection', type: 'test.outage', data: { key } });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    this.acked.add(key);
    return (r as { result: { depth: number } }).result.depth;
  }

  private scan(): void {
    for (const raw of this.cloud.json(this.topic).slice(this.received)) {
      this.received++;
      this.total++;
      const e = EventPayloadSchema.parse(raw);
      if (this.first.has(e.id)) continue;
      this.first.set(e.id, e.type === 'test.outage' ? { seq: e.seq, key: e.data!.key as string, n: e.data!.n as number } : { seq: e.seq });
    }
  }

  /** Acknowledged events not (yet) seen by the subscriber. */
  missing(): number {
    this.scan();
    let lost = 0;
    for (const k of this.acked) {
      const ns = new Set([...this.first.values()].filter((e) => e.key === k).map((e) => e.n));
      lost += this.count - ns.size;
    }
    return lost;
  }

  async allDelivered(what: string, idleMs = 30_000): Promise<void> {
    await waitUntil(() => this.missing() === 0 || undefined, what, idleMs, 100);
  }

  figures(): { acknowledged: number; delivered: number; duplicates: number; lost: number } {
    const lost = this.missing();
    return { acknowledged: this.acked.size * this.count, delivered: this.first.size, duplicates: this.total - this.first.size, lost };
  }

  /** First sightings are numbered 1..N in the order they arrived. */
  expectOrderedGapFree(): void {
    this.scan();
    const seqs = [...this.first.values()].map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  }
}

type CloudState = { cloud: { connected: boolean; link: string; outbox: { depth: number } }; faults: Record<string, unknown> };

export async function cloudState(d: DaemonProc): Promise<CloudState> {
  const r = await d.call('status');
  if (!r.ok) throw new Error(`status failed: ${JSON.stringify(r.error)}`);
  return r.result as CloudState;
}
