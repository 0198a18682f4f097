import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { SetManifest, SetName } from './clipset.js';
import type { ObjectDetector } from './detector-host.js';
import { runClip, type ClipRun, type RunClipOptions } from './evaluate.js';
import { loadTruth, scoreClip, summarize, type ClassScore, type ClassSummary, type ClipTruth, type GroundTruth } from './truth.js';
import type { DetectionType } from './types.js';

/**
 * The eval's runner: one clip (or a generated set) through `runClip` and the scoring, as
 * scripts/eval.ts prints it and the tests check it.
 */
export const DEFAULT_TRUTH = new URL('../../test/fixtures/ground-truth.json', import.meta.url).pathname;
/** The sample footage and stills (read-only, shared by the workspace). */
export const DEFAULT_MEDIA = process.env.CAMD_MEDIA ?? new URL('../../../shared/media', import.meta.url).pathname;
/** Generated clips are a cache, reproducible from the seed: never in the repository. */
export const DEFAULT_CLIPSET_DIR = join(tmpdir(), 'camd-eval-clips');

export interface ClipReport {
  clip: string;
  set?: SetName;
  truth: ClipTruth | null;
  run: Pick<ClipRun, 'feed' | 'fps' | 'frames' | 'durationSec' | 'passSec' | 'passes' | 'gray' | 'rgb' | 'settings' | 'episodes' | 'stats' | 'errors'>;
  score: Record<DetectionType, ClassScore> | null;
}

export type EvalClipOptions = Omit<RunClipOptions, 'clip' | 'detector'> & { toleranceS?: number };

export async function evalClip(clip: string, truth: ClipTruth | null, detector: ObjectDetector | null, o: EvalClipOptions = {}): Promise<ClipReport> {
  const run = await runClip({ ...o, clip, detector });
  const { feed, fps, frames, durationSec, passSec, passes, gray, rgb, settings, episodes, stats, errors } = run;
  return {
    clip,
    truth,
    run: { feed, fps, frames, durationSec, passSec, passes, gray, rgb, settings, episodes, stats, errors },
    score: truth ? scoreClip(run, truth, o.toleranceS) : null,
  };
}

export interface LoadedSet {
  dir: string;
  manifest: SetManifest;
  truth: GroundTruth;
}

export async function loadSet(dir: string): Promise<LoadedSet> {
  const manifest = JSON.parse(await readFile(join(dir, 'set.json'), 'utf8').catch(() => {
    throw new Error(`${dir}/set.json not found: render the set first (node --import tsx scripts/eval-clips.ts --out ${dir})`);
  })) as SetManifest;
  return { dir, manifest, truth: await loadTruth(join(dir, 'truth.json')) };
}

export function setClips(set: LoadedSet, which: SetName | 'all'): Array<{ path: string; set: SetName; truth: ClipTruth }> {
  return set.manifest.clips
    .filter((c) => which === 'all' || c.set === which)
    .map((c) => {
      const truth = set.truth.clips[c.file];
      if (!truth) throw new Error(`${set.dir}/truth.json has no entry for ${c.file}`);
      return { path: join(set.dir, c.file), set: c.set, truth };
    });
}

export interface SetSummary {
  set: SetName | 'all' | 'clips';
  clips: number;
  summary: Record<DetectionType, ClassSummary>;
}

export function summarizeReports(set: SetSummary['set'], reports: readonly ClipReport[]): SetSummary {
  const scored = reports.flatMap((r) => (r.score ? [r.score] : []));
  return { set, clips: scored.length, summary: summarize(scored) };
}

export const clipName = (r: ClipReport): string => basename(r.clip);
