import type { DetectionEpisode, EndReason } from '../domain/episode.js';
import type { LensName } from '../domain/types.js';
import type { EpisodeEvent } from './tracker.js';
import type { Picture } from './types.js';

export interface EpisodeOutputDeps {
  /** `detection.episode` on the bus, for those who act on it (alarm, recorder, PTZ follow). */
  emit(e: DetectionEpisode): void;
  /** Queues the cloud record (cloud-record.ts); resolves once it has left. */
  record(e: DetectionEpisode, picture?: Picture): Promise<void>;
}

/**
 * Where the detection service's episodes leave it. Each tracker event becomes the typed
 * `detection.episode` and is emitted at once; only then is its cloud record queued — the record
 * waits for a snapshot, nobody else does, and the recorder has answered the emit with the
 * episode's clip (`recording.clip`, synchronous) by the time the record is queued.
 *
 * The tracker decides the cooldown only on a start (`alert`); the bus event carries that
 * decision on every phase of the episode, so no listener has to remember it.
 */
export class EpisodeOutput {
  private readonly alerts = new Map<string, boolean>();

  constructor(private readonly deps: EpisodeOutputDeps) {}

  /** Emits at once; the promise is the cloud record's (resolves once it has left). `picture`: the start's confirming frame. */
  publish(lens: LensName, e: EpisodeEvent, endReason: EndReason, picture?: Picture): Promise<void> {
    const episode = this.toEpisode(lens, e, endReason);
    this.deps.emit(episode);
    return this.deps.record(episode, picture);
  }

  private toEpisode(lens: LensName, e: EpisodeEvent, endReason: EndReason): DetectionEpisode {
    if (e.phase === 'start') this.alerts.set(e.id, e.alert);
    const alert = this.alerts.get(e.id) ?? e.alert;
    if (e.phase === 'end') this.alerts.delete(e.id);
    return {
      phase: e.phase,
      id: e.id,
      lens,
      type: e.type,
      ts: e.ts,
      box: { ...e.box },
      score: e.score,
      objects: e.objects,
      startedAt: e.startedAt,
      lastSeen: e.lastSeen,
      alert,
      ...(e.phase === 'end' ? { reason: endReason } : {}),
    };
  }
}
