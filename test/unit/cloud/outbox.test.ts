import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { Outbox } from '../../../src/cloud/outbox/outbox.js';
import type { OutRecord } from '../../../src/cloud/outbox/record.js';
import type { CameraEvent, CameraEventKind } from '../../../src/state/bus.js';
import { patience } from '../../harness/wait.js';

const log = silentLogging().forComponent('outbox');
let dir: string;
let n = 0;

function ev(kind: CameraEventKind = 'detection', data: Record<string, unknown> = {}): CameraEvent {
  n++;
  return { id: `id-${n}`, ts: 1_700_000_000_000 + n, kind, type: `${kind}.test`, data: { n, ...data } };
}

async function open(maxBytes = 16 * 1024 * 1024): Promise<Outbox> {
  const o = new Outbox({ dir, maxBytes, clock: systemClock, log });
  await o.open();
  return o;
}

async function drain(o: Outbox, ack = true): Promise<OutRecord[]> {
  const out: OutRecord[] = [];
  for (;;) {
    const recs = await o.take(500);
    if (recs.length === 0) return out;
    for (const r of recs) {
      out.push(r);
      if (ack) o.ack(r.seq);
    }
  }
}

const ids = (recs: OutRecord[]): string[] => recs.map((r) => (JSON.parse(r.payload) as { id: string }).id);
const segFiles = (): string[] => readdirSync(dir).filter((f) => f.startsWith('seg-'));

beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'camd-outbox-')), 'outbox');
  n = 0;
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('outbox', () => {
  it('keeps events across a reopen, in order, until acked; delivered segments are deleted', async () => {
    const o = await open();
    const events = Array.from({ length: 50 }, () => ev());
    await Promise.all(events.map((e) => o.append(e)));
    expect(o.stats().depth).toBe(50);
    await o.close();

    const o2 = await open();
    expect(o2.stats().depth).toBe(50);
    const first = await o2.take(20);
    expect(ids(first)).toEqual(events.slice(0, 20).map((e) => e.id));
    for (const r of first.slice(0, 10)) o2.ack(r.seq);
    await o2.close();

    const o3 = await open();
    expect(o3.stats().depth).toBe(40);
    const rest = await drain(o3);
    expect(ids(rest)).toEqual(events.slice(10).map((e) => e.id));
    expect(rest.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 11));
    await o3.close();

    const o4 = await open();
    expect(o4.stats()).toMatchObject({ depth: 0, inFlight: 0, dropped: 0 });
    // Fully delivered segments are gone; the sequence continues after a restart.
    expect(o4.stats().bytes).toBe(0);
    const e = ev();
    await o4.append(e);
    const [r] = await o4.take(1);
    expect(r!.seq).toBe(51);
    await o4.close();
  });

  it('publishes the event JSON plus its sequence number', async () => {
    const o = await open();
    const e: CameraEvent = { id: 'abc', ts: 1234.7, kind: 'detection', type: 'human.start', lens: 'wide', data: { score: 0.9 } };
    await o.append(e);
    const [r] = await o.take(1);
    expect(JSON.parse(r!.payload)).toEqual({ id: 'abc', ts: 1234, kind: 'detection', type: 'human.start', lens: 'wide', data: { score: 0.9 }, seq: 1 });
    await o.close();
  });

  it('replaces oversize or unserialisable data instead of losing the event', async () => {
    const o = await open();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await o.append({ id: 'big', ts: 1, kind: 'detection', type: 'x', data: { blob: 'a'.repeat(100_000) } });
    await o.append({ id: 'cyc', ts: 2, kind: 'alarm', type: 'y', data: cyclic });
    const recs = await o.take(2);
    const [big, cyc] = recs.map((r) => JSON.parse(r.payload) as { id: string; data: { truncated: boolean; reason: string } });
    expect(big).toMatchObject({ id: 'big', data: { truncated: true, reason: 'data too large' } });
    expect(cyc).toMatchObject({ id: 'cyc', data: { truncated: true } });
    expect(cyc!.data.reason).toMatch(/not serialisable/);
    await o.close();
  });

  it('rewind re-sends everything after the contiguous ack point, in order', async () => {
    const o = await open();
    const events = Array.from({ length: 10 }, () => ev());
    for (const e of events) void o.append(e);
    await o.flushed();
    const sent = await o.take(10);
    // PUBACKs 1, 2, 4, 5 arrive; 3 does not (the link drops).
    for (const s of [1, 2, 4, 5]) o.ack(s);
    expect(o.stats()).toMatchObject({ depth: 8, inFlight: 8 });
    await o.rewind();
    const again = await o.take(100);
    expect(again.map((r) => r.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(sent).toHaveLength(10);
    await o.close();
  });

  it('cuts a write torn by a crash and keeps every complete record', async () => {
    const o = await open();
    const events = Array.from({ length: 5 }, () => ev());
    for (const e of events) void o.append(e);
    await o.flushed();
    await o.close();
    const [file] = segFiles();
    // What a power cut mid-append leaves behind: half a line, no newline.
    appendFileSync(join(dir, file!), '6\tdetection\th\t17000\tdeadbeef\t{"id":"half');
    const o2 = await open();
    expect(o2.stats().depth).toBe(5);
    const e6 = ev();
    await o2.append(e6);
    const recs = await drain(o2);
    expect(ids(recs)).toEqual([...events, e6].map((e) => e.id));
    await o2.close();
  });

  it('skips a record whose checksum fails and delivers the rest', async () => {
    const o = await open();
    const events = Array.from({ length: 3 }, () => ev());
    for (const e of events) void o.append(e);
    await o.flushed();
    await o.close();
    const path = join(dir, segFiles()[0]!);
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace(`"id":"${events[1]!.id}"`, `"id":"XX-${n}"`));
    const o2 = await open();
    const recs = await drain(o2);
    expect(ids(recs)).toEqual([events[0]!.id, events[2]!.id]);
    await o2.close();
  });

  it('persists the cursor at most once per window (flash wear), the latest ack at the end', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const o = await open();
    for (let i = 0; i < 5; i++) void o.append(ev());
    await o.flushed();
    const recs = await o.take(5);
    const cursor = (): number => JSON.parse(readFileSync(join(dir, 'cursor.json'), 'utf8')).acked as number;
    o.ack(recs[0]!.seq);
    await vi.waitFor(() => expect(cursor()).toBe(1));
    o.ack(recs[1]!.seq);
    o.ack(recs[2]!.seq);
    await vi.advanceTimersByTimeAsync(100);
    expect(cursor()).toBe(1);
    await vi.advanceTimersByTimeAsync(150);
    await vi.waitFor(() => expect(cursor()).toBe(3));
    await o.close();
  });

  it('when full drops the oldest low-priority events first, writes a marker first, and counts', async () => {
    const max = 1024 * 1024;
    const o = await open(max);
    const pad = 'x'.repeat(600);
    const high: CameraEvent[] = [];
    const low: CameraEvent[] = [];
    // ~1.1 MiB of events, one in three low priority, while offline (nothing taken): dropping
    // low-priority ones is enough to get back under the bound.
    for (let i = 0; i < 1600; i++) {
      const e = i % 3 === 0 ? ev('ptz', { pad }) : ev('detection', { pad });
      (e.kind === 'ptz' ? low : high).push(e);
      void o.append(e);
    }
    await o.flushed();
    // Real fsyncs: a busy machine may take far longer than vi.waitFor's 1 s default.
    await vi.waitFor(() => expect(o.stats().dropped).toBeGreaterThan(0), { timeout: patience(1_000) });
    await o.take(0); // queued behind the compaction: a barrier
    const stats = o.stats();
    expect(stats.bytes).toBeLessThanOrEqual(max);
    const recs = await drain(o, false);
    const payloads = recs.map((r) => JSON.parse(r.payload) as CameraEvent & { seq: number });
    const markers = payloads.filter((p) => p.type === 'outbox.dropped');
    expect(markers.length).toBeGreaterThan(0);
    // Every high-priority event survived; only low ones went, oldest first.
    const got = new Set(payloads.map((p) => p.id));
    expect(high.every((e) => got.has(e.id))).toBe(true);
    const lostLow = low.filter((e) => !got.has(e.id));
    expect(lostLow.length).toBe(stats.dropped);
    const keptLow = low.filter((e) => got.has(e.id));
    expect(Math.max(...lostLow.map((e) => e.ts))).toBeLessThan(Math.min(...keptLow.map((e) => e.ts)));
    const counted = markers.reduce((s, m) => s + (m.data as { count: number }).count, 0);
    expect(counted).toBe(stats.dropped);
    expect(markers.at(-1)!.data).toMatchObject({ totalDropped: stats.dropped, byKind: { ptz: expect.any(Number) } });
    // Order is kept: sequence numbers strictly increase.
    expect(recs.map((r) => r.seq)).toEqual([...recs.map((r) => r.seq)].sort((a, b) => a - b));
    await o.close();
    const o2 = await open(max);
    expect(o2.stats().dropped).toBe(stats.dropped);
    await o2.close();
  });

  it('drops the oldest high-priority events only when nothing low is left; never what is in flight', async () => {
    const max = 1024 * 1024;
    const o = await open(max);
    const pad = 'y'.repeat(600);
    const first = Array.from({ length: 10 }, () => ev('alarm', { pad }));
    for (const e of first) void o.append(e);
    await o.flushed();
    const inflight = await o.take(10);
    const later = Array.from({ length: 2000 }, () => ev('alarm', { pad }));
    for (const e of later) void o.append(e);
    await o.flushed();
    // Real fsyncs: a busy machine may take far longer than vi.waitFor's 1 s default.
    await vi.waitFor(() => expect(o.stats().dropped).toBeGreaterThan(0), { timeout: patience(1_000) });
    for (const r of inflight) o.ack(r.seq);
    const recs = await drain(o, false);
    const got = recs.map((r) => JSON.parse(r.payload) as CameraEvent);
    expect(inflight).toHaveLength(10);
    const survivors = later.filter((e) => got.some((g) => g.id === e.id));
    const lost = later.filter((e) => !got.some((g) => g.id === e.id));
    expect(lost.length).toBe(o.stats().dropped);
    // The oldest undelivered ones went.
    expect(lost.map((e) => e.id)).toEqual(later.slice(0, lost.length).map((e) => e.id));
    expect(survivors.length + lost.length).toBe(later.length);
    await o.close();
  });

  it('factory reset erases every stored event and the cursor', async () => {
    const o = await open();
    for (let i = 0; i < 10; i++) void o.append(ev());
    await o.flushed();
    const recs = await o.take(3);
    for (const r of recs) o.ack(r.seq);
    await o.erase();
    expect(readdirSync(dir)).toEqual([]);
    expect(o.stats()).toMatchObject({ depth: 0, bytes: 0, dropped: 0, inFlight: 0 });
    await o.append(ev());
    const [r] = await o.take(1);
    expect(r!.seq).toBe(1);
    await o.close();
  });

  it('keeps events in memory while flash cannot be written, then writes them', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    // 64 KiB segments: the next append after ~70 KiB must open a new segment file.
    const o = await open(1024 * 1024);
    for (let i = 0; i < 70; i++) void o.append(ev('detection', { pad: 'z'.repeat(1000) }));
    await o.flushed();
    await drain(o);
    await o.take(0);
    // The data directory turns into a file under the daemon: creating the segment fails.
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a directory');
    const e2 = ev();
    const durable = o.append(e2);
    await vi.waitFor(() => expect(o.stats().writeError).toBeDefined());
    expect(o.stats().depth).toBe(1);
    rmSync(dir);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    await vi.advanceTimersByTimeAsync(1000);
    await durable;
    expect(o.stats().writeError).toBeUndefined();
    const recs = await drain(o);
    expect(ids(recs)).toContain(e2.id);
    await o.close();
  });
});
