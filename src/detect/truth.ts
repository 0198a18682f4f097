import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ClipRun } from './evaluate.js';
import { objectThresholds } from './sensitivity.js';
import type { DetectionType } from './types.js';

/**
 * Ground truth (hand-made: test/fixtures/ground-truth.json; generated: scripts/eval-clips.ts)
 * and event-level scoring.
 *
 * Truth for a clip is a list of time ranges per class in which such an object is in view;
 * `motion` lists the ranges in which anything moves (the truth for image change). An episode
 * matches a range when they overlap, with `toleranceS` slack on both ends (confirmation takes
 * a few frames; a person half out of the picture is a judgement call).
 *   precision = episodes that match some range / episodes
 *   recall    = ranges matched by some episode / ranges
 *   splits    = for each range, the matching episodes beyond the first (one person walking by
 *               reported as two episodes is one split)
 *   merges    = episodes that match more than one range (two visitors reported as one)
 *   delay     = start event of the range's first matching episode − the range's first labelled
 *               frame: how long the owner waits for the alert (negative = before the label,
 *               within the tolerance); a range whose first episode started before it (carried
 *               over from the previous range: a merge) has no delay
 * Per-inference counts (objects only) are kept apart, as raw counts: among the model runs made
 * while an object was in view (away from range edges), how many scored it above the threshold,
 * and among those made with nothing in view, how many (wrongly) did. They say nothing about
 * episodes: a clip can have every look above the threshold and still no episode.
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

export interface PerInference {
  /** Model runs made while such an object was in view (0.5 s away from the range's edges). */
  inViewLooks: number;
  /** … of which the best score of the class reached the threshold. */
  inViewAbove: number;
  /** Model runs made with no such object in view (0.5 s away from any range). */
  emptyLooks: number;
  /** … of which the class (wrongly) reached the threshold. */
  emptyAbove: number;
}

/** Episode-against-range counts: one clip's (ClassScore) or pooled over clips (ClassSummary). */
interface EpisodeCounts {
  ranges: number;
  episodes: number;
  matchedRanges: number;
  matchedEpisodes: number;
  /** Episodes matching no range. */
  falseEpisodes: number;
  /** Sum over ranges of (matching episodes − 1) where there was more than one. */
  splits: number;
  /** Episodes matching more than one range. */
  merges: number;
  precision: number | null;
  recall: number | null;
  meanDelayS: number | null;
  maxDelayS: number | null;
}

export interface ClassScore extends EpisodeCounts {
  /**
   * Per matched range, in range order: start event of its first episode − first labelled
   * frame, seconds. Ranges whose first episode began before them (a merge) have none.
   */
  delaysS: number[];
  /** Objects only; null for change. Counts, not an episode figure (see above). */
  perInference: PerInference | null;
}

/** The part of an episode the scoring reads (evaluate.ts Episode has it). */
export interface ScoredEpisode {
  type: DetectionType;
  start: number;
  startEvent: number;
  end: number;
}

export interface ScoredInference {
  t: number;
  best: Record<'human' | 'vehicle', number>;
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
const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export const DEFAULT_TOLERANCE_S = 1;

/** One class's episodes against its ranges (pure; the unit tests feed it synthetic lists). */
export function scoreClass(episodes: readonly ScoredEpisode[], ranges: readonly Range[], toleranceS = DEFAULT_TOLERANCE_S): Omit<ClassScore, 'perInference'> {
  const eps = [...episodes].sort((a, b) => a.start - b.start);
  const hits = (e: ScoredEpisode, r: Range): boolean => overlaps(e.start, e.end, r, toleranceS);
  const matchedEps = eps.filter((e) => ranges.some((r) => hits(e, r)));
  const delaysS: number[] = [];
  let matchedRanges = 0;
  let splits = 0;
  for (const r of ranges) {
    const on = eps.filter((e) => hits(e, r));
    if (on.length === 0) continue;
    matchedRanges++;
    splits += on.length - 1;
    // `eps` is sorted by start: on[0] is the range's first episode. One carried over from an
    // earlier range (a merge) was already running: no delay for this range (a later split
    // episode's start would read as a huge delay that no one waited).
    const first = on[0]!;
    if (first.start >= r[0] - toleranceS) delaysS.push(first.startEvent - r[0]);
  }
  return {
    ranges: ranges.length,
    episodes: eps.length,
    matchedRanges,
    matchedEpisodes: matchedEps.length,
    falseEpisodes: eps.length - matchedEps.length,
    splits,
    merges: eps.filter((e) => ranges.filter((r) => hits(e, r)).length > 1).length,
    precision: ratio(matchedEps.length, eps.length),
    recall: ratio(matchedRanges, ranges.length),
    delaysS,
    meanDelayS: mean(delaysS),
    maxDelayS: delaysS.length ? Math.max(...delaysS) : null,
  };
}

function perInference(inferences: readonly ScoredInference[], ranges: readonly Range[], cls: 'human' | 'vehicle', threshold: number): PerInference {
  const p: PerInference = { inViewLooks: 0, inViewAbove: 0, emptyLooks: 0, emptyAbove: 0 };
  for (const inf of inferences) {
    const above = inf.best[cls] >= threshold;
    if (ranges.some((r) => inside(inf.t, r, 0.5))) {
      p.inViewLooks++;
      if (above) p.inViewAbove++;
    } else if (!ranges.some((r) => inside(inf.t, r, 0) || near(inf.t, r, 0.5))) {
      p.emptyLooks++;
      if (above) p.emptyAbove++;
    }
  }
  return p;
}

/** The truth of `passes` back-to-back passes over a clip of `passSec` seconds (eval --loop). */
export function loopTruth(truth: ClipTruth, passes: number, passSec: number): ClipTruth {
  if (passes <= 1) return truth;
  const rep = (rs: readonly Range[]): Range[] => Array.from({ length: passes }, (_, k) => rs.map(([a, b]): Range => [a + k * passSec, b + k * passSec])).flat();
  return { ...truth, durationSec: passes * passSec, human: rep(truth.human), vehicle: rep(truth.vehicle), motion: rep(truth.motion) };
}

export function scoreClip(run: ClipRun, truth: ClipTruth, toleranceS = DEFAULT_TOLERANCE_S): Record<DetectionType, ClassScore> {
  const t = loopTruth(truth, run.passes, run.passSec);
  const out = {} as Record<DetectionType, ClassScore>;
  for (const type of ['human', 'vehicle', 'change'] as const) {
    const ranges = type === 'change' ? t.motion : t[type];
    const base = scoreClass(run.episodes.filter((e) => e.type === type), ranges, toleranceS);
    const inf = type === 'change' ? null : perInference(run.inferences, ranges, type, objectThresholds(type, run.settings[type].sensitivity).score);
    out[type] = { ...base, perInference: inf };
  }
  return out;
}

/** Precision and recall pooled over all clips' episodes / ranges (a clip with many ranges weighs more). */
export interface ClassSummary extends EpisodeCounts {
  clips: number;
  medianDelayS: number | null;
}

/** Pools per-clip scores into one line per class. */
export function summarize(scores: ReadonlyArray<Record<DetectionType, ClassScore>>): Record<DetectionType, ClassSummary> {
  const out = {} as Record<DetectionType, ClassSummary>;
  for (const type of ['human', 'vehicle', 'change'] as const) {
    const cs = scores.map((s) => s[type]);
    const sum = (k: 'ranges' | 'episodes' | 'matchedRanges' | 'matchedEpisodes' | 'falseEpisodes' | 'splits' | 'merges'): number => cs.reduce((a, c) => a + c[k], 0);
    const delays = cs.flatMap((c) => c.delaysS).sort((a, b) => a - b);
    const mid = delays.length >> 1;
    out[type] = {
      clips: cs.length,
      ranges: sum('ranges'),
      episodes: sum('episodes'),
      matchedRanges: sum('matchedRanges'),
      matchedEpisodes: sum('matchedEpisodes'),
      falseEpisodes: sum('falseEpisodes'),
      splits: sum('splits'),
      merges: sum('merges'),
      precision: ratio(sum('matchedEpisodes'), sum('episodes')),
      recall: ratio(sum('matchedRanges'), sum('ranges')),
      meanDelayS: mean(delays),
      medianDelayS: delays.length === 0 ? null : delays.length % 2 ? delays[mid]! : (delays[mid - 1]! + delays[mid]!) / 2,
      maxDelayS: delays.length ? delays[delays.length - 1]! : null,
    };
  }
  return out;
}
