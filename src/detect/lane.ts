import type { LensName } from '../../board/schema.js';
import type { TapFrame } from '../capture/types.js';
import type { Clock } from '../core/clock.js';
import type { ObjectDetector } from './detector-host.js';
import { LensPipeline } from './pipeline.js';
import type { PipelineSettings } from './settings.js';
import type { LensDetectionState } from './state.js';
import type { EpisodeEvent } from './tracker.js';
import type { DetectionType } from './types.js';

/** Why an episode ended: the objects left, or the daemon stopped looking. */
export type EndReason = 'gone' | 'sleep' | 'shutdown';

export interface LaneOptions {
  lens: LensName;
  settings: PipelineSettings;
  detector: ObjectDetector | null;
  clock: Clock;
  onEpisode(e: EpisodeEvent, endReason: EndReason): void;
  onError(err: Error): void;
}

const NO_RGB = { width: 0, height: 0, data: new Uint8Array(0) };
const LATENCY_SAMPLES = 200;

/**
 * One lens between the frame tap and its LensPipeline: pairs the gray and rgb24 frames of one
 * instant and pushes them, and keeps the lens's counters.
 *
 * No copies: the tap guarantees a gray frame stays valid until the rgb24 handler of the same
 * seq returns, and pushFrame() does all its work on the frames synchronously (change detection
 * reads the gray plane; the detector host copies only the rows its crops need into the buffer
 * it transfers to the worker). Nothing queues: the pipeline refuses frames over the rate and
 * while this lens's previous inference runs (counted as dropped).
 */
export class LensLane {
  private readonly pipeline: LensPipeline;
  private gray: TapFrame | undefined;
  private endReason: EndReason = 'gone';
  private framesIn = 0;
  private events = 0;
  private lastEventAt: number | undefined;
  private readonly open = new Set<DetectionType>();
  private readonly latencies: number[] = [];
  /** Counts only frames that came without their twin (a capture restart mid-pair). */
  unpaired = 0;

  constructor(private readonly opts: LaneOptions) {
    this.pipeline = new LensPipeline({
      lens: opts.lens,
      settings: opts.settings,
      detector: opts.detector,
      clock: opts.clock,
      onEvent: (e) => this.onEvent(e),
      onError: (err) => opts.onError(err),
    });
  }

  /** `rgb`: whether the tap sends rgb24 frames (config capture.tap.rgbWidth/rgbHeight > 0). */
  onFrame(f: TapFrame, rgb: boolean): void {
    if (f.format === 'gray') {
      if (!rgb) this.push(f, NO_RGB);
      else this.gray = f;
      return;
    }
    const g = this.gray;
    this.gray = undefined;
    if (!g || g.seq !== f.seq || g.ts !== f.ts) {
      this.unpaired++;
      return;
    }
    this.push(g, f);
  }

  updateSettings(s: PipelineSettings): void {
    this.pipeline.updateSettings(s);
  }

  setDetector(d: ObjectDetector | null): void {
    this.pipeline.setDetector(d);
  }

  lightChange(ts: number): void {
    this.pipeline.notifyLightChange(ts);
  }

  tick(now: number): void {
    this.pipeline.tick(now);
  }

  /** Ends every open episode (its `end` says why); the lane is not used afterwards. */
  stop(reason: EndReason, now: number): void {
    this.gray = undefined;
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

  private push(g: TapFrame, rgb: { width: number; height: number; data: Uint8Array }): void {
    this.framesIn++;
    // Never rejects; inference results arrive through onEvent.
    void this.pipeline.pushFrame({
      ts: g.ts,
      gray: { width: g.width, height: g.height, data: g.data },
      rgb: { width: rgb.width, height: rgb.height, data: rgb.data },
    });
  }

  private onEvent(e: EpisodeEvent): void {
    if (e.phase === 'start') this.open.add(e.type);
    else if (e.phase === 'end') this.open.delete(e.type);
    this.events++;
    this.lastEventAt = e.ts;
    this.opts.onEpisode(e, e.phase === 'end' ? this.endReason : 'gone');
  }
}
