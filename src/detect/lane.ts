import type { LensName } from '../../board/schema.js';
import type { TapFrame } from '../capture/types.js';
import type { Clock } from '../core/clock.js';
import type { ObjectDetector } from './detector-host.js';
import { LensPipeline } from './pipeline.js';
import type { PipelineSettings } from './settings.js';
import type { LensDetectionState } from './state.js';
import type { EpisodeEvent, TrackView } from './tracker.js';
import type { DetectionType, Picture } from './types.js';

/** Why an episode ended: the objects left, or the daemon stopped looking. */
export type EndReason = 'gone' | 'sleep' | 'shutdown';

export interface LaneOptions {
  lens: LensName;
  settings: PipelineSettings;
  detector: ObjectDetector | null;
  clock: Clock;
  /** `picture`: a start's confirming frame (the tap's RGB), the caller's to keep. */
  onEpisode(e: EpisodeEvent, endReason: EndReason, picture?: Picture): void;
  onError(err: Error): void;
  /** Confirmed objects of open episodes seen by one inference. */
  onTracks?(tracks: TrackView[]): void;
}

/** A frame without an RGB plane (RGB tap off): change detection only, the detector is not asked. */
const NO_RGB = { width: 0, height: 0, data: new Uint8Array(0) };
const LATENCY_SAMPLES = 200;

/**
 * One lens between the frame tap and its LensPipeline: pushes each `capture.frame` (both planes
 * of one instant, paired by the tap) and keeps the lens's counters.
 *
 * No copies: the tap's planes are valid while the bus handlers run, and pushFrame() does all its
 * work on them synchronously (change detection reads the gray plane; the detector host copies
 * only the rows its crops need into a buffer of its own for the worker, so the tap's pooled
 * Buffers are never transferred or detached — test/integration/detect-daemon-host.test.ts).
 * Nothing queues: the pipeline refuses frames over the rate and while this lens's previous
 * inference runs (counted as dropped).
 */
export class LensLane {
  private readonly pipeline: LensPipeline;
  /** The object detector to use on frames that carry an RGB plane to crop from. */
  private detector: ObjectDetector | null;
  private endReason: EndReason = 'gone';
  private framesIn = 0;
  private events = 0;
  private lastEventAt: number | undefined;
  private readonly open = new Set<DetectionType>();
  private readonly latencies: number[] = [];

  constructor(private readonly opts: LaneOptions) {
    this.detector = opts.detector;
    this.pipeline = new LensPipeline({
      lens: opts.lens,
      settings: opts.settings,
      detector: opts.detector,
      clock: opts.clock,
      onEvent: (e, picture) => this.onEvent(e, picture),
      keepPictures: true,
      onTracks: (t) => opts.onTracks?.(t),
      onError: (err) => opts.onError(err),
    });
  }

  /** One tap frame of this lens; its planes are used before this returns, never kept. */
  onFrame(f: TapFrame): void {
    this.framesIn++;
    // The frame itself says whether there is a picture to crop from: while the RGB tap is being
    // switched off (config changed, the old pipeline still delivering) or on, a frame without an
    // RGB plane runs change detection only instead of asking the detector to crop nothing.
    this.pipeline.setDetector(f.rgb ? this.detector : null);
    // Never rejects; inference results arrive through onEvent.
    void this.pipeline.pushFrame({ ts: f.ts, gray: f.gray, rgb: f.rgb ?? NO_RGB });
  }

  updateSettings(s: PipelineSettings): void {
    this.pipeline.updateSettings(s);
  }

  setDetector(d: ObjectDetector | null): void {
    this.detector = d;
    this.pipeline.setDetector(d);
  }

  lightChange(ts: number, flashing?: boolean): void {
    this.pipeline.notifyLightChange(ts, flashing);
  }

  tick(now: number): void {
    this.pipeline.tick(now);
  }

  /** Ends every open episode (its `end` says why); the lane is not used afterwards. */
  stop(reason: EndReason, now: number): void {
    this.endReason = reason;
    try {
      this.pipeline.stop(now);
    } finally {
      this.endReason = 'gone';
    }
  }

  recordLatency(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
  }

  openTypes(): DetectionType[] {
    return [...this.open];
  }

  state(enabled: DetectionType[], objectDetection: boolean): LensDetectionState {
    const s = this.pipeline.stats();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
    return {
      enabled,
      objectDetection,
      framesIn: this.framesIn,
      changeFrames: s.changeFrames,
      staticFrames: s.staticFrames,
      dropped: { rate: s.droppedRate, busy: s.droppedBusy },
      inferences: s.inferenceRequests,
      failed: s.failed,
      events: this.events,
      ...(this.lastEventAt !== undefined ? { lastEventAt: this.lastEventAt } : {}),
      open: this.openTypes(),
      ...(sorted.length ? { latencyMs: { p50: q(0.5), p99: q(0.99), samples: sorted.length } } : {}),
    };
  }

  private onEvent(e: EpisodeEvent, picture: Picture | undefined): void {
    if (e.phase === 'start') this.open.add(e.type);
    else if (e.phase === 'end') this.open.delete(e.type);
    this.events++;
    this.lastEventAt = e.ts;
    this.opts.onEpisode(e, e.phase === 'end' ? this.endReason : 'gone', picture);
  }
}
