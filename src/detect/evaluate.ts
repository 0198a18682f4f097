import { basename } from 'node:path';
import { fitWidth, probeClip, readClip } from './clip-reader.js';
import type { CropOptions, FeedMode } from './crops.js';
import type { ObjectDetector } from './detector-host.js';
import { cocoToClass } from './fastestdet.js';
import { LensPipeline, type PipelineStats } from './pipeline.js';
import { allEnabled, type PipelineSettings } from './settings.js';
import type { EpisodeEvent } from './tracker.js';
import type { DetectionType, ObjectClass } from './types.js';

/**
 * Replays a clip through one lens pipeline exactly as the daemon runs it (same change gate,
 * crops, thresholds, tracker) and collects episodes and per-inference scores. Each frame's
 * inference is awaited before the next frame is pushed, so the result does not depend on how
 * fast this machine is: it shows what the engine decides, not how many frames it would drop.
 */
export interface RunClipOptions {
  clip: string;
  detector: ObjectDetector | null;
  feed?: FeedMode;
  crops?: Partial<CropOptions>;
  settings?: PipelineSettings;
  /** Analysis rate; default min(source rate, 10). */
  fps?: number;
  grayWidth?: number;
  rgbWidth?: number;
  maxSeconds?: number;
  loopImage?: boolean;
  /**
   * Simulates a distant scene: the picture is shrunk this many times and padded back to its
   * size with gray, so people and cars become small, as on a wide-angle outdoor camera.
   */
  zoomOut?: number;
}

export interface Episode {
  id: string;
  type: DetectionType;
  /** Seconds from the start of the clip. */
  start: number;
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
  settings: PipelineSettings;
  episodes: Episode[];
  events: EpisodeEvent[];
  inferences: InferenceRecord[];
  stats: PipelineStats;
  errors: string[];
}

export const DEFAULT_GRAY_WIDTH = 160;
export const DEFAULT_RGB_WIDTH = 640;

export async function runClip(o: RunClipOptions): Promise<ClipRun> {
  const info = o.loopImage ? { ...(await probeClip(o.clip)), fps: 0, durationSec: o.maxSeconds ?? 10 } : await probeClip(o.clip);
  const fps = o.fps ?? Math.min(info.fps || 10, 10);
  const settings = o.settings ?? allEnabled();
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
  for await (const frame of readClip({
    path: o.clip,
    fps,
    gray: fitWidth(info, o.grayWidth ?? DEFAULT_GRAY_WIDTH),
    rgb: fitWidth(info, o.rgbWidth ?? DEFAULT_RGB_WIDTH),
    startTs: 0,
    maxSeconds: o.maxSeconds,
    loopImage: o.loopImage,
    preFilter: zoomFilter(info, o.zoomOut),
  })) {
    frames++;
    lastTs = frame.ts;
    await pipeline.pushFrame(frame);
  }
  pipeline.stop(lastTs);
  return {
    clip: o.clip,
    feed,
    fps,
    frames,
    durationSec: frames / fps,
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
    const ep = byId.get(e.id) ?? { id: e.id, type: e.type, start: e.startedAt / 1000, end: e.lastSeen / 1000, alert: false, bestScore: 0, objects: 0 };
    if (e.phase === 'start') ep.alert = e.alert;
    ep.end = Math.max(ep.end, e.lastSeen / 1000);
    ep.bestScore = Math.max(ep.bestScore, e.score);
    ep.objects = Math.max(ep.objects, e.objects);
    byId.set(e.id, ep);
  }
  return [...byId.values()].sort((a, b) => a.start - b.start);
}
