import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { EventStill, EventStillRequest } from '../capture/types.js';
import type { ClipRef, DetectionEpisode, DetectionPicture, EpisodeClip } from '../domain/episode.js';
import type { LensName } from '../domain/types.js';
import type { CameraEvent } from '../state/bus.js';
import type { Picture } from './types.js';

/**
 * `detection.episode` → the cloud's record of it: `camera.event` (kind `detection`, type
 * `<human|vehicle|change>.<start|update|end>`). This is the only place the cloud's detection
 * format is built; nothing in the daemon reacts to it (alarm, recorder and PTZ listen to the
 * episode itself), so only this record waits for a picture.
 *
 * data = {
 *   episodeId, score, box: [x, y, w, h] (normalised), objects, startedAt, lastSeen,
 *   alert:   false when this episode started within detection.cooldownSeconds of the previous
 *            alerting start of its type on its lens: it is reported, but the alarm service, the
 *            app's push and the lights stay quiet. Carried on every phase of the episode.
 *   clip:    { lens, from, to, recorded, reason? } — the recording of this episode as the
 *            recorder keeps it (its `recording.clip` answer to the episode event): fetch it with
 *            `recordings.list {lens, from, to}` (`to` is null until the `end`).
 *   snapshot (start only): { ts, bytes, source, width?, height?, path? (on the card), jpeg? (base64,
 *            only without a card and only when it fits in the event), annotated? { path, bytes }
 *            (the box drawn on a copy, card only) } — or snapshotError: why there is none.
 *            `source`: `still` = the lens's full-size JPEG taken within 1.5 s of the frame,
 *            `frame` = the very frame the detector confirmed on, encoded (so a start right after
 *            capture restarted still has its picture).
 *   reason (end only): gone | sleep | shutdown
 * }
 * The `start` waits for its snapshot (bounded by SNAPSHOT_TIMEOUT_MS); every record of a lens
 * leaves in order, through one chain per lens.
 */
export const SNAPSHOT_TIMEOUT_MS = 2000;
/** What a record needs besides the inline JPEG (ids, box, clip, snapshot metadata, envelope). */
const RECORD_HEADROOM_BYTES = 4096;

export interface CloudRecordDeps {
  clock: Clock;
  log: Logger;
  /**
   * The cloud outbox's bound on one event, in bytes. Passed in (not imported) so detection does
   * not depend on the cloud: an inline JPEG larger than this less the headroom is left out.
   */
  maxEventBytes: number;
  /** The event's picture (capture's ctx.ports.stills); rejects with the reason there is none. */
  snapshot(req: EventStillRequest): Promise<EventStill>;
  emit(e: CameraEvent): void;
  /** The start's picture as soon as it is taken (bus `detection.picture`), for those who want the picture, not the record. */
  picture?(p: DetectionPicture): void;
  /** Frame ts → record emitted, for start/update records. */
  latency(lens: LensName, ms: number): void;
}

export class CloudRecords {
  private readonly chains = new Map<LensName, Promise<void>>();
  /** The recorder's latest `recording.clip` per episode. */
  private readonly clips = new Map<string, EpisodeClip>();
  private readonly inlineJpegMax: number;

  constructor(private readonly deps: CloudRecordDeps) {
    this.inlineJpegMax = deps.maxEventBytes - RECORD_HEADROOM_BYTES;
  }

  /** The recorder's clip for an episode event (bus `recording.clip`). */
  onClip(c: EpisodeClip): void {
    this.clips.set(c.episodeId, c);
  }

  /**
   * Queues the record of an episode event behind the lens's earlier ones; resolves once it is on
   * the bus. Call it after the episode was emitted: the recorder answered during that emit.
   */
  publish(e: DetectionEpisode, picture?: Picture): Promise<void> {
    // Taken now, not when the chain gets to it: the clip of the moment it happened.
    const clip = this.clipFor(e);
    if (e.phase === 'end') this.clips.delete(e.id);
    const prev = this.chains.get(e.lens) ?? Promise.resolve();
    const next = prev.then(() => this.build(e, clip, picture)).then(
      (ev) => {
        this.deps.emit(ev);
        if (e.phase !== 'end') this.deps.latency(e.lens, this.deps.clock.now() - e.ts);
      },
      (err: unknown) => this.deps.log.error({ err: errorMessage(err), lens: e.lens, type: e.type }, 'detection event not sent'),
    );
    this.chains.set(e.lens, next);
    return next;
  }

  /** Resolves when every queued record has left. */
  idle(): Promise<void> {
    return Promise.all([...this.chains.values()]).then(() => undefined);
  }

  private clipFor(e: DetectionEpisode): ClipRef {
    const c = this.clips.get(e.id);
    if (c && c.phase === e.phase && c.ts === e.ts) return c.clip;
    // No recorder answered (the storage service is not running): say so rather than guess a window.
    return { lens: e.lens, from: e.startedAt, to: e.phase === 'end' ? e.ts : null, recorded: false, reason: 'no recorder running' };
  }

  private async build(e: DetectionEpisode, clip: ClipRef, picture: Picture | undefined): Promise<CameraEvent> {
    const id = randomUUID();
    const data: Record<string, unknown> = {
      episodeId: e.id,
      score: round(e.score, 3),
      box: [round(e.box.x, 4), round(e.box.y, 4), round(e.box.w, 4), round(e.box.h, 4)],
      objects: e.objects,
      alert: e.alert,
      startedAt: e.startedAt,
      lastSeen: e.lastSeen,
      clip,
    };
    if (e.phase === 'start') Object.assign(data, await this.snapshot({ lens: e.lens, eventId: id, ts: e.ts, box: e.box, maxInlineChars: this.inlineJpegMax, ...(picture ? { picture } : {}) }, e));
    if (e.phase === 'end') data.reason = e.reason ?? 'gone';
    return { id, ts: e.ts, kind: 'detection', type: `${e.type}.${e.phase}`, lens: e.lens, data };
  }

  private async snapshot(req: EventStillRequest, e: DetectionEpisode): Promise<Record<string, unknown>> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = this.deps.clock.setTimeout(() => resolve('timeout'), SNAPSHOT_TIMEOUT_MS)));
    let r: EventStill | 'timeout';
    try {
      r = await Promise.race([this.deps.snapshot(req), timeout]);
    } catch (err) {
      return { snapshotError: errorMessage(err) };
    } finally {
      this.deps.clock.clearTimeout(timer);
    }
    if (r === 'timeout') return { snapshotError: `no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms` };
    // Whatever its size: the event's inline bound below is the cloud record's, not the picture's.
    if (r.path || r.jpeg) this.deps.picture?.({ lens: e.lens, type: e.type, episodeId: e.id, ts: r.ts, ...(r.path ? { path: r.path } : { jpeg: r.jpeg }) });
    const out: Record<string, unknown> = { ts: r.ts, bytes: r.bytes, source: r.source };
    if (r.width !== undefined) Object.assign(out, { width: r.width, height: r.height });
    if (r.path) out.path = r.path;
    else if (r.jpeg && r.jpeg.length <= this.inlineJpegMax) out.jpeg = r.jpeg;
    else if (r.jpeg) {
      return { snapshot: out, snapshotError: `no card in use to keep the snapshot, and at ${r.jpeg.length} base64 bytes it does not fit in the event (max ${this.inlineJpegMax})` };
    }
    if (r.annotated) out.annotated = r.annotated;
    if (r.reduced) out.reduced = true;
    return { snapshot: out };
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
