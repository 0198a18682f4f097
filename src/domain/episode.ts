import type { Box, DetectionType, LensName, ObjectClass } from './types.js';

/**
 * The detection contract between the detection service and the features that act on it
 * (alarm, recorder, PTZ follow, the cloud record). It is typed and emitted the moment the
 * tracker decides, so nothing that must react fast (siren, recording) waits for what only the
 * cloud record needs (the snapshot).
 */
export type EpisodePhase = 'start' | 'update' | 'end';
/** Why an episode ended: the objects left, or the daemon stopped looking (sleep mode, shutdown). */
export type EndReason = 'gone' | 'sleep' | 'shutdown';

export interface DetectionEpisode {
  phase: EpisodePhase;
  /** Episode id: the same on its start, updates and end. */
  id: string;
  lens: LensName;
  type: DetectionType;
  /** Frame time (epoch ms) of the observation that produced it; for `end`, when it was declared over. */
  ts: number;
  /** Best current object (change: union of the changed regions); not rounded. */
  box: Box;
  /** Current score for start/update, best score of the episode for end. */
  score: number;
  /** Distinct confirmed objects seen during the episode so far. */
  objects?: number;
  startedAt: number;
  lastSeen: number;
  /**
   * False when the episode started within detection.cooldownSeconds of the previous alerting
   * start of its type on its lens: it is reported, but siren, lights and push stay quiet.
   * Decided at the start and carried on every phase of the episode.
   */
  alert: boolean;
  /** End only. */
  reason?: EndReason;
}

/**
 * The recording of one episode as the recorder keeps it: fetch it with
 * `recordings.list {lens, from, to}`. `from`/`to` include the pre-/post-roll; `to` is null until
 * the episode ends; `recorded: false` says why nothing is kept (`reason`).
 */
export interface ClipRef {
  lens: LensName;
  from: number;
  to: number | null;
  recorded: boolean;
  reason?: string;
}

/** The recorder's answer to one episode event: which clip it stands for, at that moment. */
export interface EpisodeClip {
  episodeId: string;
  phase: EpisodePhase;
  /** The episode event's ts: tells the updates of one episode apart. */
  ts: number;
  clip: ClipRef;
}

/**
 * Where a confirmed object of an open episode was seen, once per inference that saw it: the
 * episode's own `update`s are spaced seconds apart (they are for the record, the alarm and the
 * cloud), far too coarse to steer the PTZ close-up by. Only objects seen in that inference, only
 * while their episode is open (after its `start`, before its `end`).
 */
export interface DetectionTrack {
  lens: LensName;
  type: ObjectClass;
  /** The open episode the object belongs to (an episode may hold several objects of its type). */
  episodeId: string;
  /** The object's own box (not the episode's best box); not rounded. */
  box: Box;
  score: number;
  /** Frame time (epoch ms) of the inference that saw it. */
  ts: number;
}

/**
 * The picture of an episode's start, the moment detection has it (before the cloud record that
 * carries it is built): for consumers of the picture itself (Home Assistant's image topic), so
 * none of them reads the cloud's record format. Exactly one of `path` / `jpeg`.
 */
export interface DetectionPicture {
  lens: LensName;
  type: DetectionType;
  episodeId: string;
  /** When the picture was taken (epoch ms). */
  ts: number;
  /** On the card, relative to its mount point. */
  path?: string;
  /** Base64 JPEG (no card in use). */
  jpeg?: string;
}

declare module '../state/bus.js' {
  interface BusEvents {
    /** An episode start's picture (detect/cloud-record.ts), emitted when the snapshot is taken. */
    'detection.picture': DetectionPicture;
    /** A detection episode starts, changes or ends (emitted by the detection service at once). */
    'detection.episode': DetectionEpisode;
    /** A confirmed object of an open episode, per inference that saw it (PTZ follow steers by it). */
    'detection.track': DetectionTrack;
    /**
     * The recorder's clip for a `detection.episode`, emitted while that event is delivered (the
     * bus is synchronous), so whoever emitted the episode finds it once `emit` returns.
     */
    'recording.clip': EpisodeClip;
  }
}
