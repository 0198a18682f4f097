import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { LensName } from '../../board/schema.js';
import { MAX_EVENT_BYTES } from '../cloud/outbox/record.js';
import type { Config } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { CommandResult } from '../control/commands.js';
import type { CameraEvent } from '../state/bus.js';
import type { StorageState } from '../storage/types.js';
import type { EndReason } from './lane.js';
import type { EpisodeEvent } from './tracker.js';

/**
 * Episode events → `camera.event` (kind `detection`, type `<human|vehicle|change>.<start|update|end>`).
 *
 * data = {
 *   episodeId, score, box: [x, y, w, h] (normalised), objects, startedAt, lastSeen,
 *   alert:   false when this episode started within detection.cooldownSeconds of the previous
 *            alerting start of its type on its lens: it is reported, but the alarm service, the
 *            app's push and the lights stay quiet. Carried on every phase of the episode.
 *   clip:    { lens, from, to, recorded, reason? } — the recording of this episode: fetch it
 *            with `recordings.list {lens, from, to}` (`to` is null until the `end`). `from` and
 *            `to` include the configured pre/post-roll; `recorded: false` says why not (reason).
 *   snapshot (start only): { ts, bytes, path? (on the card), jpeg? (base64, only without a card
 *            and only when it fits in the event) } — or snapshotError: why there is none.
 *   reason (end only): gone | sleep | shutdown
 * }
 * The `start` waits for its snapshot (bounded by SNAPSHOT_TIMEOUT_MS); every event of a lens
 * leaves in order, through one chain per lens.
 */
export const SNAPSHOT_TIMEOUT_MS = 2000;
/** Room left in the outbox's per-event bound for everything but the inline JPEG. */
const INLINE_JPEG_MAX = MAX_EVENT_BYTES - 4096;

export interface EventDeps {
  clock: Clock;
  log: Logger;
  config(): Config;
  storage(): StorageState | undefined;
  snapshot(lens: LensName, eventId: string): Promise<CommandResult>;
  emit(e: CameraEvent): void;
  /** Frame ts → emitted, for start/update events. */
  latency(lens: LensName, ms: number): void;
}

export class DetectionEvents {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly alerts = new Map<string, boolean>();

  constructor(private readonly deps: EventDeps) {}

  /** Queues the event behind the lens's earlier ones; resolves once it is on the bus. */
  publish(e: EpisodeEvent, endReason: EndReason): Promise<void> {
    const lens = e.lens as LensName;
    // Decided now, not when the chain gets to it: the settings of the moment it happened.
    const clip = this.clip(lens, e);
    if (e.phase === 'start') this.alerts.set(e.id, e.alert);
    const alert = this.alerts.get(e.id) ?? e.alert;
    if (e.phase === 'end') this.alerts.delete(e.id);
    const prev = this.chains.get(lens) ?? Promise.resolve();
    const next = prev.then(() => this.build(e, lens, clip, alert, endReason)).then(
      (ev) => {
        this.deps.emit(ev);
        if (e.phase !== 'end') this.deps.latency(lens, this.deps.clock.now() - e.ts);
      },
      (err: unknown) => this.deps.log.error({ err: errorMessage(err), lens, type: e.type }, 'detection event not sent'),
    );
    this.chains.set(lens, next);
    return next;
  }

  /** Resolves when every queued event has left. */
  idle(): Promise<void> {
    return Promise.all([...this.chains.values()]).then(() => undefined);
  }

  private async build(e: EpisodeEvent, lens: LensName, clip: Record<string, unknown>, alert: boolean, endReason: EndReason): Promise<CameraEvent> {
    const id = randomUUID();
    const data: Record<string, unknown> = {
      episodeId: e.id,
      score: round(e.score, 3),
      box: [round(e.box.x, 4), round(e.box.y, 4), round(e.box.w, 4), round(e.box.h, 4)],
      objects: e.objects,
      alert,
      startedAt: e.startedAt,
      lastSeen: e.lastSeen,
      clip,
    };
    if (e.phase === 'start') Object.assign(data, await this.snapshot(lens, id));
    if (e.phase === 'end') data.reason = endReason;
    return { id, ts: e.ts, kind: 'detection', type: `${e.type}.${e.phase}`, lens, data };
  }

  private async snapshot(lens: LensName, eventId: string): Promise<Record<string, unknown>> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = this.deps.clock.setTimeout(() => resolve('timeout'), SNAPSHOT_TIMEOUT_MS)));
    let r: CommandResult | 'timeout';
    try {
      r = await Promise.race([this.deps.snapshot(lens, eventId), timeout]);
    } catch (err) {
      r = { ok: false, error: { code: 'failed', message: errorMessage(err) } };
    } finally {
      this.deps.clock.clearTimeout(timer);
    }
    if (r === 'timeout') return { snapshotError: `no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms` };
    if (!r.ok) return { snapshotError: r.error.message };
    const s = r.result as { ts?: number; bytes?: number; path?: string; jpeg?: string };
    const out: Record<string, unknown> = { ts: s.ts, bytes: s.bytes };
    if (s.path) out.path = s.path;
    else if (s.jpeg && s.jpeg.length <= INLINE_JPEG_MAX) out.jpeg = s.jpeg;
    else if (s.jpeg) {
      return { snapshot: out, snapshotError: `no card in use to keep the snapshot, and at ${s.jpeg.length} base64 bytes it does not fit in the event (max ${INLINE_JPEG_MAX})` };
    }
    return { snapshot: out };
  }

  private clip(lens: LensName, e: EpisodeEvent): Record<string, unknown> {
    const rec = this.deps.config().recording;
    const from = e.startedAt - rec.preRollSeconds * 1000;
    const to = e.phase === 'end' ? e.ts + rec.postRollSeconds * 1000 : null;
    const card = this.deps.storage()?.status;
    const usable = card === 'in-use' || card === 'full';
    const reason = rec.mode === 'off' ? 'recording is off' : usable ? undefined : `no card in use (card ${card ?? 'absent'})`;
    return { lens, from, to, recorded: !reason, ...(reason ? { reason } : {}) };
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
