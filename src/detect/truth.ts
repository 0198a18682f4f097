import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ClipRun } from './evaluate.js';
import { objectThresholds } from './sensitivity.js';
import type { DetectionType } from './types.js';

/**
 * Hand-made ground truth (test/fixtures/ground-truth.json) and event-level scoring.
 *
 * Truth for a clip is a list of time ranges per class in which such an object is in view;
 * `motion` lists the ranges in which anything moves (the truth for image change). An episode
 * matches a range when they overlap, with `toleranceS` slack on both ends (confirmation takes
 * a few frames; a person half out of the picture is a judgement call).
 *   precision = episodes that match some range / episodes
 *   recall    = ranges matched by some episode / ranges
 * Per-inference figures complement it: among the inferences made while an object was in view
 * (away from range edges), the share that scored it above the threshold, and among those made
 * with no such object, the share that (wrongly) did.
 */
export type Range = [number, number];

export interface ClipTruth {
  durationSec: number;
  human: Range[];
  vehicle: Range[];
  motion: Range[];
  notes?: string;
}

export interface StillTruth {
  human: number;
  vehicle: number;
  other: string[];
  notes?: string;
}

export interface GroundTruth {
  method: string;
  policy: Record<string, string>;
  clips: Record<string, ClipTruth>;
  stills: Record<string, StillTruth>;
}

export interface ClassScore {
  ranges: number;
  episodes: number;
  matchedRanges: number;
  matchedEpisodes: number;
  precision: number | null;
  recall: number | null;
  /** Mean delay from a range's start to the start of the episode that matched it, seconds. */
  meanDelayS: number | null;
  /** Per-inference hit rate while the object was in view (objects only). */
  inferenceRecall: number | null;
  /** Per-inference false-positive rate with no such object in view (objects only). */
  inferenceFalseRate: number | null;
}

export async function loadTruth(path: string): Promise<GroundTruth> {
  return JSON.parse(await readFile(path, 'utf8')) as GroundTruth;
}

export function truthFor(gt: GroundTruth, clip: string): ClipTruth | null {
  return gt.clips[basename(clip)] ?? null;
}

const overlaps = (s: number, e: number, r: Range, tol: number): boolean => s <= r[1] + tol && e >= r[0] - tol;
const inside = (t: number, r: Range, margin: number): boolean => t >= r[0] + margin && t <= r[1] - margin;
const near = (t: number, r: Range, margin: number): boolean => Math.abs(t - r[0]) < margin || Math.abs(t - r[1]) < margin;
const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

export function scoreClip(run: ClipRun, truth: ClipTruth, toleranceS = 1): Record<DetectionType, ClassScore> {
  const out = {} as Record<DetectionType, ClassScore>;
  for (const type of ['human', 'vehicle', 'change'] as const) {
    const ranges = type === 'change' ? truth.motion : truth[type];
    const eps = run.episodes.filter((e) => e.type === type);
    const matchedEps = eps.filter((e) => ranges.some((r) => overlaps(e.start, e.end, r, toleranceS)));
    const delays: number[] = [];
    let matchedRanges = 0;
    for (const r of ranges) {
      const hit = eps.find((e) => overlaps(e.start, e.end, r, toleranceS));
      if (!hit) continue;
      matchedRanges++;
      delays.push(Math.max(0, hit.start - r[0]));
    }
    let pos = 0;
    let posHit = 0;
    let neg = 0;
    let negHit = 0;
    if (type !== 'change') {
      const thr = objectThresholds(type, run.settings[type].sensitivity).score;
      for (const inf of run.inferences) {
        const hit = inf.best[type] >= thr;
        if (ranges.some((r) => inside(inf.t, r, 0.5))) {
          pos++;
          if (hit) posHit++;
        } else if (!ranges.some((r) => inside(inf.t, r, 0) || near(inf.t, r, 0.5))) {
          neg++;
          if (hit) negHit++;
        }
      }
    }
    out[type] = {
      ranges: ranges.length,
      episodes: eps.length,
      matchedRanges,
      matchedEpisodes: matchedEps.length,
      precision: ratio(matchedEps.length, eps.length),
      recall: ratio(matchedRanges, ranges.length),
      meanDelayS: delays.length ? delays.reduce((a, b) => a + b, 0) / delays.length : null,
      inferenceRecall: type === 'change' ? null : ratio(posHit, pos),
      inferenceFalseRate: type === 'change' ? null : ratio(negHit, neg),
    };
  }
  return out;
}
