import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { ChangeDetector, type ChangeOptions, type ChangeResult } from './change.js';
import { cropToBox, DEFAULT_CROP_OPTIONS, planCrops, type CropOptions, type FeedMode } from './crops.js';
import type { DetectResult, ObjectDetector } from './detector-host.js';
import { cocoToClass } from './fastestdet.js';
import { changeThresholds, objectThresholds } from './sensitivity.js';
import type { PipelineSettings } from './settings.js';
import { EpisodeTracker, type Confirmation, type EpisodeEvent, type TrackedDetection, type TrackView } from './tracker.js';
import { OBJECT_CLASSES, unionBox, type Box, type CropPlan, type DetectionType, type LensFrame, type Picture, type RgbFrame } from './types.js';
import { centreInAreas, inAreas } from './zones.js';

/**
 * One lens: change detection on every frame gates the object detector; crops around changed
 * regions (and around objects already being tracked) go to the detector at most
 * `maxRatePerLens` inferences per second; detections pass the per-class sensitivity threshold
 * and the lens's areas and feed the episode tracker, whose events go to `onEvent`.
 *
 * Time is the frames' own timestamps (the capture stamps them), so a clip replayed faster than
 * real time behaves exactly like live capture; the clock is only used for latency figures and
 * for `tick()`/`stop()` without an explicit time.
 */
export interface LensPipelineOptions {
  lens: string;
  settings: PipelineSettings;
  /** null when the model is missing or broken: image change keeps working. */
  detector: ObjectDetector | null;
  /**
   * Every episode event. With `keepPictures`, a `start` comes with the RGB frame that confirmed it
   * (the inference's frame; for image change, the frame itself): the caller owns that buffer.
   */
  onEvent: (e: EpisodeEvent, picture?: Picture) => void;
  /** Confirmed objects of open episodes seen by one inference, after that inference's episode events (PTZ follow). */
  onTracks?: (tracks: TrackView[]) => void;
  /** Keep a copy of each inferred frame until its result is in, for the start's picture (the tap reuses its buffers). */
  keepPictures?: boolean;
  clock?: Clock;
  feed?: FeedMode;
  crops?: Partial<CropOptions>;
  change?: Partial<ChangeOptions>;
  newId?: () => string;
  onError?: (err: Error) => void;
  /** Every finished inference, before thresholds (eval and bench look at these). */
  onInference?: (info: InferenceInfo) => void;
}

export interface InferenceInfo {
  ts: number;
  crops: CropPlan[];
  result: DetectResult;
  /** Clock time from pushFrame() to the detections reaching the tracker. */
  latencyMs: number;
  keepalive: boolean;
}

export type FrameDecision = 'inferred' | 'static' | 'rate' | 'busy' | 'disabled' | 'no-detector' | 'failed';

export interface FrameOutcome {
  change: ChangeResult;
  decision: FrameDecision;
}

export interface PipelineStats {
  frames: number;
  changeFrames: number;
  staticFrames: number;
  inferenceRequests: number;
  inferenceCrops: number;
  keepaliveRequests: number;
  droppedRate: number;
  droppedBusy: number;
  failed: number;
  events: number;
}

/** Gating is always at least this sensitive, whatever the image-change alert sensitivity is. */
const GATE: Pick<ChangeOptions, 'pixelThreshold' | 'minAreaFraction'> = { pixelThreshold: 20, minAreaFraction: 0.001 };

export class LensPipeline {
  private settings: PipelineSettings;
  private readonly change: ChangeDetector;
  private readonly tracker: EpisodeTracker;
  private readonly clock: Clock;
  private readonly feed: FeedMode;
  private readonly cropOpts: CropOptions;
  private detector: ObjectDetector | null;
  private nextAllowedTs = -Infinity;
  /** Bumped by stop(): results of inferences started before it are dropped. */
  private generation = 0;
  private lastInferTs = -Infinity;
  /** Spare picture buffers (keepPictures): one is taken per inference, back when its result is in unless a start took it. */
  private readonly spare: Buffer[] = [];
  private readonly counters: PipelineStats = {
    frames: 0, changeFrames: 0, staticFrames: 0, inferenceRequests: 0, inferenceCrops: 0,
    keepaliveRequests: 0, droppedRate: 0, droppedBusy: 0, failed: 0, events: 0,
  };

  constructor(private readonly opts: LensPipelineOptions) {
    this.settings = opts.settings;
    this.detector = opts.detector;
    this.clock = opts.clock ?? systemClock;
    this.feed = opts.feed ?? 'crops';
    this.cropOpts = { ...DEFAULT_CROP_OPTIONS, ...opts.crops };
    this.change = new ChangeDetector({ ...opts.change, ...this.changeGate() });
    this.tracker = new EpisodeTracker({ lens: opts.lens, newId: opts.newId ?? randomUUID, ...this.trackerTimes() });
  }

  /** Applies a config change live (thresholds, areas, rate, cooldown). */
  updateSettings(settings: PipelineSettings): void {
    this.settings = settings;
    this.change.setOptions(this.changeGate());
    this.tracker.setOptions(this.trackerTimes());
  }

  /**
   * The daemon's detector came up, died or was re-created: frames from now on use this one
   * (null = image change only). Inferences already in flight settle as they would have.
   */
  setDetector(detector: ObjectDetector | null): void {
    this.detector = detector;
  }

  /** The daemon switched the spotlight, strobes or IR: the image change that follows is ours (`flashing`: see ChangeDetector). */
  notifyLightChange(ts = this.clock.now(), flashing?: boolean): void {
    this.change.notifyLightChange(ts, flashing);
  }

  stats(): PipelineStats {
    return { ...this.counters };
  }

  /** Ends episodes whose objects are gone; call periodically if frames may stop arriving. */
  tick(ts = this.clock.now()): void {
    this.emit(this.tracker.tick(ts));
  }

  /** Ends every open episode (lens stopped, privacy mode); inferences still in flight are ignored. */
  stop(ts = this.clock.now()): void {
    this.generation++;
    this.emit(this.tracker.finish(ts));
  }

  /**
   * Processes one frame. Change detection and the gating decision run synchronously; the
   * returned promise settles once this frame's inference (if any) has been tracked. The daemon
   * need not await it (it never rejects); the eval tool does, to replay clips deterministically.
   */
  pushFrame(frame: LensFrame): Promise<FrameOutcome> {
    const received = this.clock.now();
    const ts = frame.ts;
    this.counters.frames++;
    this.emit(this.tracker.tick(ts));
    const change = this.change.process(frame.gray, ts);
    if (change.regions.length > 0) this.counters.changeFrames++;
    this.observeChange(ts, change, frame.rgb);
    this.tracker.observeMotion(ts, change.regions.map((r) => r.box));

    const decided = (decision: FrameDecision): Promise<FrameOutcome> => Promise.resolve({ change, decision });
    const s = this.settings;
    if (!s.human.enabled && !s.vehicle.enabled) return decided('disabled');
    const detector = this.detector;
    if (!detector) return decided('no-detector');
    const tracked = this.tracker.activeBoxes(ts);
    const motion = change.regions.map((r) => r.box);
    const keepalive = motion.length === 0 && tracked.length > 0 && ts - this.lastInferTs >= this.keepaliveMs();
    if (motion.length === 0 && !keepalive) {
      this.counters.staticFrames++;
      return decided('static');
    }
    if (ts < this.nextAllowedTs) {
      this.counters.droppedRate++;
      return decided('rate');
    }
    const { width, height } = frame.rgb;
    const crops = planCrops(this.feed, width, height, [...motion, ...tracked], this.cropOpts);
    const pending = detector.detect({ lens: this.opts.lens, frame: frame.rgb, crops });
    if (!pending) {
      this.counters.droppedBusy++;
      return decided('busy');
    }
    this.counters.inferenceRequests++;
    this.counters.inferenceCrops += crops.length;
    if (keepalive) this.counters.keepaliveRequests++;
    this.lastInferTs = ts;
    this.nextAllowedTs = ts + (crops.length * 1000) / s.maxRatePerLens;
    const looked = crops.map((c) => cropToBox(c, width, height));
    const generation = this.generation;
    const picture = this.holdPicture(frame.rgb, ts);
    return pending.then(
      (result) => {
        if (generation !== this.generation) {
          this.release(picture);
          return { change, decision: 'inferred' as const };
        }
        this.opts.onInference?.({ ts, crops, result, latencyMs: this.clock.now() - received, keepalive });
        const events = this.tracker.observeObjects(ts, this.accept(result), looked);
        const handed = picture && events.some((e) => e.phase === 'start') ? picture : undefined;
        if (!handed) this.release(picture);
        this.emit(events, handed);
        this.emitTracks(ts);
        return { change, decision: 'inferred' as const };
      },
      (err: unknown) => {
        this.release(picture);
        this.counters.failed++;
        this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
        return { change, decision: 'failed' as const };
      },
    );
  }

  /** Objects seen by the inference of frame `ts` only: a stale position is not a sighting. */
  private emitTracks(ts: number): void {
    if (!this.opts.onTracks) return;
    const seen = this.tracker.confirmedTracks().filter((t) => t.ts === ts);
    if (seen.length === 0) return;
    try {
      this.opts.onTracks(seen);
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Detections the owner asked for: enabled class, at least its keep score (strong at its
   * threshold), inside its areas.
   */
  private accept(result: DetectResult): TrackedDetection[] {
    const out: TrackedDetection[] = [];
    for (const d of result.detections) {
      const cls = cocoToClass(d.coco);
      if (!cls) continue;
      const alg = this.settings[cls];
      const t = objectThresholds(cls, alg.sensitivity);
      if (!alg.enabled || d.score < t.keepScore) continue;
      if (!inAreas(d.box, alg.areas)) continue;
      out.push({ cls, score: d.score, box: d.box, strong: d.score >= t.score });
    }
    return out;
  }

  private observeChange(ts: number, change: ChangeResult, rgb: RgbFrame): void {
    const alg = this.settings.change;
    if (!alg.enabled) return;
    const t = changeThresholds(alg.sensitivity);
    let box: Box | null = null;
    let area = 0;
    for (const r of change.regions) {
      if (r.areaFraction < t.minAreaFraction || r.meanDiff < t.pixelDiff || !centreInAreas(r.box, alg.areas)) continue;
      box = box ? unionBox(box, r.box) : r.box;
      area += r.areaFraction;
    }
    // Score of a change = share of the frame that changed (capped at 1).
    const events = this.tracker.observeChange(ts, box, Math.min(1, area));
    // A change start is decided on this very frame, while its RGB plane is still valid: its picture
    // is a copy of it (a rare event, so no buffer is kept for it).
    const starts = this.opts.keepPictures && rgb.data.length > 0 && events.some((e) => e.phase === 'start');
    this.emit(events, starts ? { width: rgb.width, height: rgb.height, data: Buffer.from(rgb.data), ts } : undefined);
  }

  private changeGate(): Pick<ChangeOptions, 'pixelThreshold' | 'minAreaFraction'> {
    const alg = this.settings.change;
    if (!alg.enabled) return { ...GATE };
    const t = changeThresholds(alg.sensitivity);
    return { pixelThreshold: Math.min(GATE.pixelThreshold, t.pixelDiff), minAreaFraction: Math.min(GATE.minAreaFraction, t.minAreaFraction) };
  }

  /** How often tracked objects are re-checked when nothing moves (a person standing still). */
  private keepaliveMs(): number {
    return Math.max(1000, 1000 / this.settings.maxRatePerLens);
  }

  private trackerTimes(): { confirm: Record<DetectionType, Confirmation>; lostAfterMs: number; holdMaxMs: number; cooldownMs: number; updateEveryMs: number } {
    const s = this.settings;
    const objects = Object.fromEntries(OBJECT_CLASSES.map((c) => [c, objectThresholds(c, s[c].sensitivity).confirm])) as Record<'human' | 'vehicle', Confirmation>;
    const lostAfterMs = Math.max(3000, 3 * this.keepaliveMs());
    return {
      confirm: { ...objects, change: changeThresholds(s.change.sensitivity).confirm },
      // Long enough to bridge a few missed looks, short enough that two visitors 4 s apart are two episodes.
      lostAfterMs,
      // Image change around a confirmed object holds its episode this long past its last strong hit.
      holdMaxMs: 3 * lostAfterMs,
      cooldownMs: s.cooldownSeconds * 1000,
      updateEveryMs: 5000,
    };
  }

  /**
   * A copy of the frame being inferred, when its result could start an episode (some enabled
   * object type has none open). One copy per inference (640x360: 0.7 MB, ~0.05 ms), into a
   * reused buffer.
   */
  private holdPicture(rgb: RgbFrame, ts: number): Picture | undefined {
    if (!this.opts.keepPictures) return undefined;
    if (OBJECT_CLASSES.every((c) => !this.settings[c].enabled || this.tracker.isOpen(c))) return undefined;
    const n = rgb.data.length;
    let buf = this.spare.pop();
    if (!buf || buf.length !== n) buf = Buffer.allocUnsafe(n);
    buf.set(rgb.data.subarray(0, n));
    return { width: rgb.width, height: rgb.height, data: buf, ts };
  }

  private release(p: Picture | undefined): void {
    if (p && this.spare.length < 2) this.spare.push(p.data as Buffer);
  }

  private emit(events: EpisodeEvent[], picture?: Picture): void {
    for (const e of events) {
      this.counters.events++;
      // A throwing consumer must not break frame processing (or lose the other events).
      try {
        this.opts.onEvent(e, e.phase === 'start' ? picture : undefined);
      } catch (err) {
        this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}
