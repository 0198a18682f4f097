import { promises as fs, type promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { ensureDir, fsyncDir } from '../../core/atomic-file.js';
import { CamdError, errorMessage } from '../../core/errors.js';
import type { CameraEvent } from '../../state/bus.js';
import { Throttle } from '../throttle.js';
import { planDrops, summarize, type DropSummary, type DroppedInfo } from './drop-policy.js';
import { DROP_MARKER_TYPE, encodeRecord, priorityOf, toPayload, type OutRecord, type Priority } from './record.js';
import { SegmentReader } from './reader.js';
import * as seg from './segments.js';

/**
 * The persistent event outbox (in the data dir on flash, never on the card).
 *
 * - append(): the event gets the next sequence number and is written + fsynced to the tail
 *   segment (appends arriving meanwhile share one write and one fsync: group commit) before it
 *   can be taken for publishing.
 * - take()/ack()/rewind(): the publisher takes durable records in order, acks each on PUBACK and
 *   rewinds to the first unacked one when the connection drops. The contiguous ack point goes to
 *   `cursor.json` at most every `cursorIntervalMs` (flash wear); fully delivered segments are then
 *   deleted. A crash between PUBACK and the cursor write re-sends a few events (at-least-once;
 *   the cloud de-duplicates by id) and never loses one.
 * - Bound: over `maxBytes` the drop policy (drop-policy.ts) frees 10 % below the bound; the
 *   `outbox.dropped` marker event is made durable before anything is removed.
 */
export interface OutboxOptions {
  dir: string;
  maxBytes: number;
  clock: Clock;
  log: Logger;
  cursorIntervalMs?: number;
}

export interface OutboxStats {
  /** Events not yet delivered (durable or still being written). */
  depth: number;
  bytes: number;
  maxBytes: number;
  dropped: number;
  inFlight: number;
  segments: number;
  writeError?: string;
}

interface Pending {
  seq: number;
  kind: string;
  prio: Priority;
  ts: number;
  line: string;
  bytes: number;
  resolve: () => void;
  done: Promise<void>;
}

const BATCH_BYTES = 256 * 1024;
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

export class Outbox {
  private segments: seg.Segment[] = [];
  private tail: fsp.FileHandle | undefined;
  private nextSeq = 1;
  private acked = 0;
  private persisted: seg.Cursor = { acked: 0, dropped: 0 };
  private sentSeq = 0;
  private inflight: number[] = [];
  private head = 0;
  private readonly ackedOutOfOrder = new Set<number>();
  private dropped = 0;
  private durableDepth = 0;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private droppedInMemory: DroppedInfo[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private flushQueued = false;
  private readonly reader = new SegmentReader();
  private writeError: string | undefined;
  private failures = 0;
  private retryTimer: TimerHandle | undefined;
  private closed = false;
  private readonly durableListeners = new Set<() => void>();
  private readonly cursorThrottle: Throttle;
  private maxBytes: number;

  constructor(private readonly opts: OutboxOptions) {
    this.maxBytes = opts.maxBytes;
    this.cursorThrottle = new Throttle(opts.clock, opts.cursorIntervalMs ?? 200, () => this.exclusive(() => this.persistCursor()), (err) =>
      opts.log.error({ err: errorMessage(err) }, 'outbox cursor write failed'),
    );
  }

  /** Segments are a fraction of the bound so dropping and deleting work in small steps. */
  private get segmentBytes(): number {
    return Math.min(1024 * 1024, Math.max(64 * 1024, Math.floor(this.maxBytes / 16)));
  }

  async open(): Promise<void> {
    const { dir, log } = this.opts;
    await ensureDir(dir, 0o700);
    const { cursor, problem } = await seg.readCursor(dir);
    if (problem) log.error({ dir, problem }, 'outbox cursor unreadable');
    this.acked = cursor.acked;
    this.persisted = { ...cursor };
    this.dropped = cursor.dropped;
    let maxSeq = 0;
    for (const f of await seg.listSegmentFiles(dir)) {
      const path = join(dir, f.name);
      const scan = await seg.readSegment(path);
      if (scan.tornBytes > 0) {
        log.warn({ file: f.name, tornBytes: scan.tornBytes }, 'outbox: cutting a write interrupted by a crash');
        await seg.truncateTo(path, scan.goodBytes);
      }
      if (scan.corrupt > 0) log.error({ file: f.name, corrupt: scan.corrupt }, 'outbox: records failed their checksum and are skipped');
      const recs = scan.records;
      const first = recs[0];
      const last = recs.at(-1);
      if (!first || !last) {
        await seg.removeFiles(dir, [f.name]);
        continue;
      }
      this.segments.push({ name: f.name, path, firstSeq: first.seq, lastSeq: last.seq, bytes: scan.goodBytes, count: recs.length });
      for (const r of recs) if (r.seq > this.acked) this.durableDepth++;
      maxSeq = Math.max(maxSeq, last.seq);
    }
    this.nextSeq = Math.max(this.acked, maxSeq) + 1;
    this.sentSeq = this.acked;
    await this.deleteDelivered();
    log.info({ depth: this.durableDepth, bytes: this.totalBytes(), segments: this.segments.length, nextSeq: this.nextSeq }, 'outbox open');
  }

  /** Queues an event; resolves once it is on flash (or was counted as dropped). */
  append(ev: CameraEvent): Promise<void> {
    if (this.closed) return Promise.reject(new CamdError('unavailable', 'outbox closed'));
    const seq = this.nextSeq++;
    const ts = Number.isFinite(ev.ts) ? Math.max(0, Math.floor(ev.ts)) : this.opts.clock.now();
    const kind = String(ev.kind).replace(/[^a-z0-9._-]/gi, '_').slice(0, 32) || 'unknown';
    const prio = priorityOf(ev);
    const line = encodeRecord(seq, kind, prio, ts, toPayload({ ...ev, ts }, seq));
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const bytes = Buffer.byteLength(line);
    this.pending.push({ seq, kind, prio, ts, line, bytes, resolve, done });
    this.pendingBytes += bytes;
    this.boundPending();
    this.scheduleFlush();
    return done;
  }

  /** Resolves when everything appended so far is durable (or dropped and counted). */
  flushed(): Promise<void> {
    return this.pending.at(-1)?.done ?? Promise.resolve();
  }

  onDurable(listener: () => void): () => void {
    this.durableListeners.add(listener);
    return () => this.durableListeners.delete(listener);
  }

  /** The next durable, unsent records in order (at most `max`); they count as in flight. */
  take(max: number): Promise<OutRecord[]> {
    return this.exclusive(async () => {
      const { records, upTo } = await this.reader.read(this.segments, this.sentSeq, max);
      for (const r of records) this.inflight.push(r.seq);
      this.sentSeq = upTo;
      return records;
    });
  }

  /** PUBACK for one record. Acks may arrive in any order; the cursor moves contiguously. */
  ack(seq: number): void {
    if (seq <= this.acked || seq > this.sentSeq) return;
    this.ackedOutOfOrder.add(seq);
    let moved = false;
    while (this.head < this.inflight.length && this.ackedOutOfOrder.has(this.inflight[this.head]!)) {
      const s = this.inflight[this.head++]!;
      this.ackedOutOfOrder.delete(s);
      this.acked = s;
      this.durableDepth--;
      moved = true;
    }
    if (this.head > 1024 && this.head * 2 > this.inflight.length) {
      this.inflight = this.inflight.slice(this.head);
      this.head = 0;
    }
    if (moved) this.cursorThrottle.trigger();
  }

  /**
   * The link dropped: everything in flight is unsent again (it will be re-sent in order). Queued
   * behind a take() still running for the old connection, so that one cannot undo it.
   */
  rewind(): Promise<void> {
    return this.exclusive(async () => this.resetInflight());
  }

  private resetInflight(): void {
    this.inflight = [];
    this.head = 0;
    this.ackedOutOfOrder.clear();
    this.sentSeq = this.acked;
  }

  setMaxBytes(bytes: number): void {
    this.maxBytes = bytes;
    this.scheduleFlush();
  }

  stats(): OutboxStats {
    const s: OutboxStats = {
      depth: this.durableDepth + this.pending.length,
      bytes: this.totalBytes(),
      maxBytes: this.maxBytes,
      dropped: this.dropped,
      inFlight: this.inflight.length - this.head,
      segments: this.segments.length,
    };
    if (this.writeError) s.writeError = this.writeError;
    return s;
  }

  /** Factory reset: every stored event and the cursor are removed. */
  erase(): Promise<void> {
    return this.exclusive(async () => {
      await this.closeTail();
      const names = (await fs.readdir(this.opts.dir)).filter((n) => n.startsWith('seg-') || n === seg.CURSOR_FILE || n.endsWith('.tmp'));
      await seg.removeFiles(this.opts.dir, names);
      for (const p of this.pending) p.resolve();
      this.pending = [];
      this.pendingBytes = 0;
      this.droppedInMemory = [];
      this.segments = [];
      this.reader.forget();
      this.nextSeq = 1;
      this.acked = 0;
      this.persisted = { acked: 0, dropped: 0 };
      this.dropped = 0;
      this.durableDepth = 0;
      this.resetInflight();
      this.opts.log.warn('outbox erased (factory reset)');
    });
  }

  /** Writes what is pending and the cursor, then releases the files. */
  async close(): Promise<void> {
    this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.exclusive(() => this.writePending());
    this.closed = true;
    if (this.pending.length > 0) this.opts.log.error({ lost: this.pending.length, err: this.writeError }, 'outbox closed with events it could not write');
    await this.cursorThrottle.flush();
    this.cursorThrottle.stop();
    await this.exclusive(() => this.closeTail());
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private scheduleFlush(): void {
    if (this.flushQueued || this.retryTimer !== undefined || this.closed) return;
    this.flushQueued = true;
    void this.exclusive(async () => {
      this.flushQueued = false;
      await this.writePending();
    }).catch((err: unknown) => this.opts.log.error({ err: errorMessage(err) }, 'outbox flush failed'));
  }

  private async writePending(): Promise<void> {
    if (!(await this.writeBatches())) return;
    if (this.droppedInMemory.length > 0) {
      const lost = this.droppedInMemory;
      this.droppedInMemory = [];
      this.recordDrop(summarize(lost)!, 'events dropped while the outbox could not be written');
      if (!(await this.writeBatches())) return;
    }
    if (this.totalBytes() > this.maxBytes) await this.enforceLimit();
  }

  /** Group commit: all pending lines in as few write+fsync rounds as possible. False on failure. */
  private async writeBatches(): Promise<boolean> {
    let wrote = false;
    while (this.pending.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.pending.length && (n === 0 || bytes + this.pending[n]!.bytes <= BATCH_BYTES)) bytes += this.pending[n++]!.bytes;
      const batch = this.pending.slice(0, n);
      const target = await this.appendToTail(batch, bytes).catch((err: unknown) => err as Error);
      if (target instanceof Error) {
        this.onWriteFailure(target);
        return false;
      }
      this.pending.splice(0, n);
      this.pendingBytes -= bytes;
      target.bytes += bytes;
      target.count += n;
      if (target.count === n) target.firstSeq = batch[0]!.seq;
      target.lastSeq = batch[n - 1]!.seq;
      this.durableDepth += n;
      for (const p of batch) p.resolve();
      wrote = true;
    }
    if (this.writeError) this.opts.log.info('outbox writable again');
    this.writeError = undefined;
    this.failures = 0;
    if (wrote) for (const l of [...this.durableListeners]) l();
    return true;
  }

  private async appendToTail(batch: Pending[], bytes: number): Promise<seg.Segment> {
    let last = this.segments.at(-1);
    if (!this.tail || !last || last.bytes >= this.segmentBytes) {
      await this.closeTail();
      const name = seg.segmentName(batch[0]!.seq);
      const path = join(this.opts.dir, name);
      this.tail = await fs.open(path, 'wx', 0o600);
      await fsyncDir(this.opts.dir);
      last = { name, path, firstSeq: batch[0]!.seq, lastSeq: 0, bytes: 0, count: 0 };
      this.segments.push(last);
    }
    const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
    try {
      let off = 0;
      while (off < bytes) off += (await this.tail.write(buf, off, bytes - off)).bytesWritten;
      await this.tail.sync();
    } catch (err) {
      // A half-written batch must not stay in front of the next one: cut back to the last good record.
      await this.tail.truncate(last.bytes).catch(() => undefined);
      await this.closeTail();
      throw err;
    }
    return last;
  }

  private onWriteFailure(err: Error): void {
    this.writeError = errorMessage(err);
    const delay = RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)]!;
    this.opts.log.error({ err: this.writeError, retryInMs: delay, pending: this.pending.length }, 'outbox write failed; events kept in memory');
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.scheduleFlush();
    }, delay);
    for (const l of [...this.durableListeners]) l();
  }

  /** While flash cannot be written, memory holds at most the outbox bound: drop (and count) as on disk. */
  private boundPending(): void {
    // A burst while flash works is written first and then trimmed by the on-disk policy.
    if (this.writeError === undefined) return;
    while (this.pendingBytes > this.maxBytes && this.pending.length > 1) {
      let i = this.pending.findIndex((p) => p.prio === 'l');
      if (i < 0) i = 0;
      const [p] = this.pending.splice(i, 1);
      this.pendingBytes -= p!.bytes;
      this.droppedInMemory.push({ seq: p!.seq, kind: p!.kind, ts: p!.ts, bytes: p!.bytes });
      p!.resolve();
    }
  }

  /** The marker: an event like any other, high priority, made durable before anything is removed. */
  private recordDrop(summary: DropSummary, why: string): number {
    this.dropped += summary.count;
    const seq = this.nextSeq;
    const marker: CameraEvent = {
      id: randomUUID(),
      ts: this.opts.clock.now(),
      kind: 'system',
      type: DROP_MARKER_TYPE,
      data: { ...summary, totalDropped: this.dropped, reason: why },
    };
    this.opts.log.warn({ ...summary, totalDropped: this.dropped, why }, 'outbox full: events dropped');
    void this.append(marker);
    return seq;
  }

  /** Takes back a marker that could not be made durable: nothing was dropped after all. */
  private withdrawDrop(seq: number, count: number): void {
    const i = this.pending.findIndex((p) => p.seq === seq);
    if (i >= 0) {
      const [p] = this.pending.splice(i, 1);
      this.pendingBytes -= p!.bytes;
      p!.resolve();
    }
    this.dropped -= count;
  }

  private async enforceLimit(): Promise<void> {
    const need = this.totalBytes() - Math.floor(this.maxBytes * 0.9);
    if (need <= 0) return;
    // Every segment becomes immutable: the marker and later events go to a fresh tail.
    await this.closeTail();
    const { drops, dropped: info } = await planDrops(this.segments, async (s) => (await seg.readSegment(s.path)).records, {
      need,
      acked: this.acked,
      sentSeq: this.sentSeq,
    });
    const summary = summarize(info);
    if (summary) {
      const markerSeq = this.recordDrop(summary, 'outbox over its size bound');
      // Durable marker first: a crash from here on can over-count, never drop silently.
      if (!(await this.writeBatches())) {
        this.withdrawDrop(markerSeq, summary.count);
        return;
      }
    }
    for (const [s, set] of drops) {
      const { records } = await seg.readSegment(s.path, (r) => r.seq > this.acked && !set.has(r.seq));
      s.bytes = await seg.rewriteSegment(s.path, records, (r) => encodeRecord(r.seq, r.kind, r.prio, r.ts, r.payload));
      s.count = records.length;
      if (records[0]) s.firstSeq = records[0].seq;
      if (records.length === 0) this.segments = this.segments.filter((x) => x !== s);
    }
    await fsyncDir(this.opts.dir);
    this.reader.forget();
    if (summary) this.durableDepth -= summary.count;
    await this.persistCursor();
  }

  private async persistCursor(): Promise<void> {
    const cursor = { acked: this.acked, dropped: this.dropped };
    if (cursor.acked !== this.persisted.acked || cursor.dropped !== this.persisted.dropped) {
      await seg.writeCursor(this.opts.dir, cursor);
      this.persisted = cursor;
    }
    await this.deleteDelivered();
  }

  /** Segments whose every record is delivered (per the persisted cursor) go; the open tail stays until full. */
  private async deleteDelivered(): Promise<void> {
    const last = this.segments.at(-1);
    const gone = this.segments.filter(
      (s) => (s.count === 0 || s.lastSeq <= this.persisted.acked) && !(s === last && this.tail && s.bytes < this.segmentBytes),
    );
    if (gone.length === 0) return;
    if (last && gone.includes(last)) await this.closeTail();
    await seg.removeFiles(this.opts.dir, gone.map((s) => s.name));
    this.segments = this.segments.filter((s) => !gone.includes(s));
    this.reader.forget(gone);
  }

  private async closeTail(): Promise<void> {
    const fh = this.tail;
    this.tail = undefined;
    if (fh) await fh.close().catch(() => undefined);
  }

  private totalBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    return n;
  }
}
