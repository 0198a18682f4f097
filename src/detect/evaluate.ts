import { basename } from 'node:path';
import { defaultConfig } from '../config/schema.js';
import { fitWidth, probeClip, readClip, type Size } from './clip-reader.js';
import type { CropOptions, FeedMode } from './crops.js';
import type { ObjectDetector } from './detector-host.js';
import { cocoToClass } from './fastestdet.js';
import { LensPipeline, type PipelineStats } from './pipeline.js';
import { settingsForLens, type PipelineSettings } from './settings.js';
import type { EpisodeEvent } from './tracker.js';
import type { DetectionType, ObjectClass } from './types.js';

/**
 * Replays a clip through one lens pipeline exactly as the daemon runs it (same change gate,
 * crops, thresholds, tracker) and collects episodes and per-inference scores. Each frame's
 * inference is awaited before the next frame is pushed, so the result does not depend on how
 * fast this machine is: it shows what the engine decides, not how many frames it would drop.
 *
 * Defaults are the daemon's own (`daemonReplay()`): the config schema's tap size and rate and
 * `settingsForLens` of its detection defaults, so a change of a factory default changes the
 * eval with it instead of leaving it measuring a configuration no camera runs.
 */
export interface RunClipOptions {
  clip: string;
  detector: ObjectDetector | null;
  feed?: FeedMode;
  crops?: Partial<CropOptions>;
  settings?: PipelineSettings;
  /** Analysis rate; default the tap's (config `capture.tap.fps`). */
  fps?: number;
  /** Exact gray plane size; default the tap's (`capture.tap.width x height`). */
  gray?: Size;
  /** Exact RGB plane size; default the tap's (`capture.tap.rgbWidth x rgbHeight`). */
  rgb?: Size;
  /** Gray width, height from the clip's aspect (older callers); `gray` wins. */
  grayWidth?: number;
  rgbWidth?: number;
  maxSeconds?: number;
  loopImage?: boolean;
  /**
   * Passes over the clip (default 1), as the sim board's looping file source: one pipeline for
   * all of them (change background, tracks, cooldown carry over) and timestamps that continue.
   */
  loop?: number;
  /**
   * Simulates a distant scene: the picture is shrunk this many times and padded back to its
   * size with gray, so people and cars become small, as on a wide-angle outdoor camera.
   */
  zoomOut?: number;
}

export interface Episode {
  id: string;
  type: DetectionType;
  /** First sighting of its object (the tracker's startedAt), seconds from the start of the clip. */
  start: number;
  /** When the `start` event was emitted (after confirmation), seconds. */
  startEvent: number;
  /** Last sighting, seconds. */
  end: number;
  alert: boolean;
  bestScore: number;
  objects: number;
}

export interface InferenceRecord {
  /** Seconds from the start of the clip. */
  t: number;
  crops: number;
  /** Best raw score per product class in this inference (before thresholds and areas). */
  best: Record<ObjectClass, number>;
  keepalive: boolean;
}

export interface ClipRun {
  clip: string;
  feed: FeedMode;
  fps: number;
  frames: number;
  durationSec: number;
  /** Length of one pass, seconds (pass k's frames are offset by k * passSec). */
  passSec: number;
  passes: number;
  gray: Size;
  rgb: Size;
  settings: PipelineSettings;
  episodes: Episode[];
  events: EpisodeEvent[];
  inferences: InferenceRecord[];
  stats: PipelineStats;
  errors: string[];
}

export interface DaemonReplay {
  fps: number;
  gray: Size;
  rgb: Size;
  /** settingsForLens(defaults, 'wide'), with every algorithm enabled (see below). */
  settings: PipelineSettings;
}

/**
 * What a factory-default camera runs, read from the config schema itself. Every algorithm is
 * switched on (the factory turns vehicle and change events off) so the eval scores all three;
 * at the default sensitivities this does not change what the human detector sees: the change
 * gate is the same (pipeline.ts GATE is at least as sensitive as change at 50) and each class
 * has its own tracks. `--factory` in scripts/eval.ts keeps the factory's enabled flags.
 */
export function daemonReplay(opts: { factory?: boolean } = {}): DaemonReplay {
  const cfg = defaultConfig();
  const tap = cfg.capture.tap;
  const s = settingsForLens(cfg.detection, 'wide');
  const settings = opts.factory ? s : { ...s, human: { ...s.human, enabled: true }, vehicle: { ...s.vehicle, enabled: true }, change: { ...s.change, enabled: true } };
  return { fps: tap.fps, gray: { width: tap.width, height: tap.height }, rgb: { width: tap.rgbWidth, height: tap.rgbHeight }, settings };
}

export async function runClip(o: RunClipOptions): Promise<ClipRun> {
  const info = o.loopImage ? { ...(await probeClip(o.clip)), fps: 0, durationSec: o.maxSeconds ?? 10 } : await probeClip(o.clip);
  const daemon = daemonReplay();
  const fps = o.fps ?? daemon.fps;
  const settings = o.settings ?? daemon.settings;
  const gray = o.gray ?? (o.grayWidth ? fitWidth(info, o.grayWidth) : daemon.gray);
  const rgb = o.rgb ?? (o.rgbWidth ? fitWidth(info, o.rgbWidth) : daemon.rgb);
  const passes = Math.max(1, Math.floor(o.loop ?? 1));
  const feed = o.feed ?? 'crops';
  const events: EpisodeEvent[] = [];
  const inferences: InferenceRecord[] = [];
  const errors: string[] = [];
  let n = 0;
  const pipeline = new LensPipeline({
    lens: 'wide',
    settings,
    detector: o.detector,
    feed,
    crops: o.crops,
    newId: () => `${basename(o.clip)}#${++n}`,
    onEvent: (e) => events.push(e),
    onError: (err) => errors.push(err.message),
    onInference: (i) => {
      const best: Record<ObjectClass, number> = { human: 0, vehicle: 0 };
      for (const d of i.result.detections) {
        const cls = cocoToClass(d.coco);
        if (cls) best[cls] = Math.max(best[cls], d.score);
      }
      inferences.push({ t: i.ts / 1000, crops: i.crops.length, best, keepalive: i.keepalive });
    },
  });
  let frames = 0;
  let lastTs = 0;
  let passFrames = 0;
  for (let pass = 0; pass < passes; pass++) {
    // Pass k starts one frame interval after the last frame of pass k-1, as ffmpeg's
    // -stream_loop does for the daemon's sim source (its timestamps run on).
    const startTs = (pass * passFrames * 1000) / fps;
    let n = 0;
    for await (const frame of readClip({
      path: o.clip,
      fps,
      gray,
      rgb,
      startTs,
      maxSeconds: o.maxSeconds,
      loopImage: o.loopImage,
      preFilter: zoomFilter(info, o.zoomOut),
      rgbScaleFlags: 'area',
    })) {
      n++;
      frames++;
      lastTs = frame.ts;
      await pipeline.pushFrame(frame);
    }
    if (pass === 0) passFrames = n;
  }
  pipeline.stop(lastTs);
  return {
    clip: o.clip,
    feed,
    fps,
    frames,
    durationSec: frames / fps,
    passSec: passFrames / fps,
    passes,
    gray,
    rgb,
    settings,
    episodes: episodesFrom(events),
    events,
    inferences,
    stats: pipeline.stats(),
    errors,
  };
}

function zoomFilter(size: { width: number; height: number }, zoomOut?: number): string | undefined {
  if (!zoomOut || zoomOut <= 1) return undefined;
  const w = Math.max(2, Math.round(size.width / zoomOut / 2) * 2);
  return `scale=${w}:-2,pad=${size.width}:${size.height}:(ow-iw)/2:(oh-ih)/2:color=0x808080`;
}

/** Folds start/update/end events into one record per episode. */
export function episodesFrom(events: readonly EpisodeEvent[]): Episode[] {
  const byId = new Map<string, Episode>();
  for (const e of events) {
    const ep = byId.get(e.id) ?? { id: e.id, type: e.type, start: e.startedAt / 1000, startEvent: e.ts / 1000, end: e.lastSeen / 1000, alert: false, bestScore: 0, objects: 0 };
    if (e.phase === 'start') {
      ep.alert = e.alert;
      ep.startEvent = e.ts / 1000;
    }
    ep.end = Math.max(ep.end, e.lastSeen / 1000);
    ep.bestScore = Math.max(ep.bestScore, e.score);
    ep.objects = Math.max(ep.objects, e.objects);
    byId.set(e.id, ep);
  }
  return [...byId.values()].sort((a, b) => a.start - b.start);
}
