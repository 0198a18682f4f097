/**
 * Accuracy of the detection engine on a clip (or a still, or a generated set), against ground truth.
 *
 *   node --import tsx scripts/eval.ts <clip.mp4|image.jpg> [--truth file] [--json out.json] [--loop N]
 *   node --import tsx scripts/eval.ts --set tune|heldout|all [--clips dir] [--json out.json] [--loop N]
 *     [--feeds crops] [--fps F] [--gray 352x198] [--rgb 640x360] [--sensitivity S] [--rate R]
 *     [--cooldown S] [--factory] [--threads 1] [--zoom-out N]
 *
 * Replays what the daemon sees: the clip is decoded by ffmpeg into gray + RGB planes at the
 * config's tap size and rate (`capture.tap`), and pushed through one `LensPipeline` with
 * `settingsForLens` of the config's detection defaults (all three algorithms on unless
 * --factory) — every default read from src/config/schema.ts, never copied here. `--loop N`
 * replays N passes through the same pipeline with timestamps running on, like the sim board's
 * looping file source. Flags override single values. Truth defaults to
 * test/fixtures/ground-truth.json (single clips) or <clips>/truth.json (--set, rendered by
 * scripts/eval-clips.ts).
 */
import { writeFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { SetName } from '../src/detect/clipset.js';
import { FEED_MODES, type FeedMode } from '../src/detect/crops.js';
import { DetectorHost } from '../src/detect/detector-host.js';
import { DEFAULT_CLIPSET_DIR, DEFAULT_TRUTH, clipName, evalClip, loadSet, setClips, summarizeReports, type ClipReport, type EvalClipOptions, type SetSummary } from '../src/detect/eval-runner.js';
import { daemonReplay } from '../src/detect/evaluate.js';
import type { PipelineSettings } from '../src/detect/settings.js';
import { decodeImage, detectStill } from '../src/detect/stills.js';
import { loadTruth, truthFor, type ClassScore, type ClassSummary, type ClipTruth } from '../src/detect/truth.js';
import type { DetectionType } from '../src/detect/types.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.bmp']);
const TYPES = ['human', 'vehicle', 'change'] as const;

const pct = (v: number | null): string => (v === null ? '   -' : `${(v * 100).toFixed(0).padStart(3)}%`);
const sec = (v: number | null): string => (v === null ? '    -' : `${v.toFixed(1).padStart(5)}`);
const int = (v: number, w = 3): string => String(v).padStart(w);

function parseSize(v: string | undefined, flag: string): { width: number; height: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m) throw new Error(`${flag} ${v}: use WIDTHxHEIGHT, e.g. 352x198`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

function printEpisodes(r: ClipReport): void {
  const run = r.run;
  console.log(`\n${clipName(r)} [${run.feed}] ${run.frames} frames at ${run.fps} fps (${run.passes} pass${run.passes > 1 ? 'es' : ''} of ${run.passSec.toFixed(1)} s), gray ${run.gray.width}x${run.gray.height}, rgb ${run.rgb.width}x${run.rgb.height}; model runs ${run.stats.inferenceRequests} (${run.stats.inferenceCrops} crops, ${run.stats.keepaliveRequests} keep-alive); frames without change ${run.stats.staticFrames}/${run.stats.frames}; rate-dropped ${run.stats.droppedRate}`);
  if (run.errors.length) console.log(`  errors: ${run.errors.slice(0, 3).join('; ')}`);
  for (const e of run.episodes) {
    console.log(`  ${e.type.padEnd(7)} ${e.start.toFixed(1).padStart(6)}s – ${e.end.toFixed(1).padStart(6)}s  start event ${e.startEvent.toFixed(1)}s  best ${e.bestScore.toFixed(2)}  objects ${e.objects}${e.alert ? '' : '  (cooldown: no alert)'}`);
  }
  if (run.episodes.length === 0) console.log('  (no episodes)');
}

const HEADER = `${'clip'.padEnd(40)} ${'class'.padEnd(7)} truth  eps match false split merge  prec recall  delay(s) mean   max`;

function scoreLine(name: string, t: DetectionType, c: ClassScore | ClassSummary): string {
  const max = c.maxDelayS;
  return `${name.slice(0, 40).padEnd(40)} ${t.padEnd(7)} ${int(c.ranges, 5)} ${int(c.episodes, 4)} ${int(c.matchedRanges, 5)} ${int(c.falseEpisodes, 5)} ${int(c.splits, 5)} ${int(c.merges, 5)}  ${pct(c.precision)} ${pct(c.recall)}        ${sec(c.meanDelayS)} ${sec(max)}`;
}

/** Classes with nothing to say (no truth, no episode) are left out of a clip's lines. */
function printTable(reports: readonly ClipReport[]): void {
  console.log(`\n${HEADER}`);
  for (const r of reports) {
    if (!r.score) continue;
    for (const t of TYPES) {
      const c = r.score[t];
      if (c.ranges === 0 && c.episodes === 0) continue;
      console.log(scoreLine(clipName(r), t, c));
    }
    if (TYPES.every((t) => r.score![t].ranges === 0 && r.score![t].episodes === 0)) console.log(`${clipName(r).slice(0, 40).padEnd(40)} (nothing labelled, no episode)`);
  }
}

function printSummary(s: SetSummary): void {
  console.log(`\nsummary: ${s.set}, ${s.clips} clip${s.clips === 1 ? '' : 's'} (precision/recall pooled over all episodes/ranges; delay = start event − first labelled frame)`);
  console.log(HEADER.replace('clip'.padEnd(40), 'set'.padEnd(40)));
  for (const t of TYPES) console.log(scoreLine(s.set, t, s.summary[t]));
}

/** Raw per-inference counts, apart from the episode table: they are not an episode figure. */
function printPerInference(reports: readonly ClipReport[]): void {
  const lines: string[] = [];
  for (const r of reports) {
    for (const t of ['human', 'vehicle'] as const) {
      const p = r.score?.[t].perInference;
      if (!p || (p.inViewLooks === 0 && p.emptyAbove === 0)) continue;
      lines.push(`  ${clipName(r).slice(0, 40).padEnd(40)} ${t.padEnd(7)} model runs with it in view ${int(p.inViewLooks, 4)}, above threshold ${int(p.inViewAbove, 4)}; with none in view ${int(p.emptyLooks, 4)}, above threshold ${int(p.emptyAbove, 4)}`);
    }
  }
  if (lines.length) console.log(`\nper model run (counts; not episodes):\n${lines.join('\n')}`);
}

async function evalImage(host: DetectorHost, path: string, feeds: FeedMode[]): Promise<unknown> {
  const frame = await decodeImage(path);
  const out: Record<string, unknown> = {};
  for (const feed of feeds) {
    const dets = await detectStill(host, frame, feed);
    out[feed] = dets;
    const shown = dets.filter((d) => d.cls).slice(0, 8).map((d) => `${d.cls} ${d.score.toFixed(2)}`);
    console.log(`[${feed}${feed === 'crops' ? '→tiles' : ''}] ${shown.length ? shown.join(', ') : 'no human/vehicle'}  (${dets.length} detections of any class)`);
  }
  return out;
}

function settingsFrom(values: { sensitivity?: string; rate?: string; cooldown?: string; factory?: boolean }): PipelineSettings {
  const s = daemonReplay({ factory: values.factory }).settings;
  const sens = values.sensitivity === undefined ? undefined : Number(values.sensitivity);
  const alg = (a: PipelineSettings['human']): PipelineSettings['human'] => (sens === undefined ? a : { ...a, sensitivity: sens });
  return {
    human: alg(s.human),
    vehicle: alg(s.vehicle),
    change: alg(s.change),
    maxRatePerLens: values.rate === undefined ? s.maxRatePerLens : Number(values.rate),
    cooldownSeconds: values.cooldown === undefined ? s.cooldownSeconds : Number(values.cooldown),
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      truth: { type: 'string' },
      json: { type: 'string' },
      set: { type: 'string' },
      clips: { type: 'string', default: DEFAULT_CLIPSET_DIR },
      feeds: { type: 'string', default: 'crops' },
      fps: { type: 'string' },
      gray: { type: 'string' },
      rgb: { type: 'string' },
      sensitivity: { type: 'string' },
      rate: { type: 'string' },
      cooldown: { type: 'string' },
      factory: { type: 'boolean', default: false },
      loop: { type: 'string', default: '1' },
      threads: { type: 'string', default: '1' },
      'zoom-out': { type: 'string' },
    },
  });
  const clip = positionals[0];
  const which = values.set;
  if (!clip && !which) {
    console.error('usage: node --import tsx scripts/eval.ts <clip.mp4|image.jpg> | --set tune|heldout|all  [--json out] [--loop N] [--fps F] [--gray WxH] [--rgb WxH] [--sensitivity S] [--rate R] [--cooldown S] [--factory] [--feeds crops,squash]');
    process.exit(2);
  }
  if (which && which !== 'tune' && which !== 'heldout' && which !== 'all') throw new Error(`--set ${which}: use tune, heldout or all`);
  const feeds = values.feeds.split(',').map((f) => f.trim()) as FeedMode[];
  const bad = feeds.find((f) => !FEED_MODES.includes(f));
  if (bad) throw new Error(`unknown feed mode ${bad}; use ${FEED_MODES.join(', ')}`);
  const loop = Number(values.loop);
  if (!Number.isInteger(loop) || loop < 1) throw new Error(`--loop ${values.loop}: a whole number ≥ 1`);
  const settings = settingsFrom(values);
  const base: EvalClipOptions = {
    settings,
    fps: values.fps === undefined ? undefined : Number(values.fps),
    gray: parseSize(values.gray, '--gray'),
    rgb: parseSize(values.rgb, '--rgb'),
    loop,
    zoomOut: values['zoom-out'] ? Number(values['zoom-out']) : undefined,
  };
  const d = daemonReplay();
  console.log(`replay: ${base.fps ?? d.fps} fps, gray ${fmt(base.gray ?? d.gray)}, rgb ${fmt(base.rgb ?? d.rgb)}, sensitivity ${settings.human.sensitivity}/${settings.vehicle.sensitivity}/${settings.change.sensitivity} (human/vehicle/change), enabled ${TYPES.filter((t) => settings[t].enabled).join(',') || 'none'}, maxRatePerLens ${settings.maxRatePerLens}, cooldown ${settings.cooldownSeconds} s, ${loop} pass${loop > 1 ? 'es' : ''}`);
  const host = await DetectorHost.open({ threads: Number(values.threads) });
  try {
    if (clip && IMAGE_EXT.has(extname(clip).toLowerCase())) {
      const res = await evalImage(host, clip, feeds);
      if (values.json) await writeFile(values.json, JSON.stringify({ image: clip, detections: res }, null, 2));
      return;
    }
    const jobs: Array<{ path: string; set?: SetName; truth: ClipTruth | null }> = [];
    if (which) {
      const set = await loadSet(values.clips);
      jobs.push(...setClips(set, which as SetName | 'all'));
      console.log(`set ${which}: ${jobs.length} clips from ${values.clips} (seed ${set.manifest.seed})`);
    } else if (clip) {
      const truthPath = values.truth ?? DEFAULT_TRUTH;
      const truth = truthFor(await loadTruth(truthPath).catch(() => ({ method: '', policy: {}, clips: {}, stills: {} })), clip);
      console.log(truth ? `truth: ${truthPath}` : `note: ${truthPath} has no entry for ${basename(clip)}; listing episodes only`);
      jobs.push({ path: clip, truth });
    }
    const out: Array<{ feed: FeedMode; reports: ClipReport[]; summaries: SetSummary[] }> = [];
    for (const feed of feeds) {
      const reports: ClipReport[] = [];
      for (const j of jobs) {
        const r = await evalClip(j.path, j.truth, host, { ...base, feed });
        if (j.set) r.set = j.set;
        reports.push(r);
        printEpisodes(r);
      }
      const summaries: SetSummary[] = [];
      if (which === 'all') for (const s of ['tune', 'heldout'] as const) summaries.push(summarizeReports(s, reports.filter((r) => r.set === s)));
      summaries.push(summarizeReports(which ? (which as SetName | 'all') : 'clips', reports));
      console.log(`\n=== feed ${feed}: event scores per clip (tolerance 1 s) ===`);
      printTable(reports);
      if (reports.some((r) => r.score)) for (const s of summaries) printSummary(s);
      printPerInference(reports);
      out.push({ feed, reports, summaries });
    }
    if (values.json) {
      await writeFile(values.json, JSON.stringify({ replay: { ...base, defaults: d }, runs: out }, null, 2));
      console.log(`\nwrote ${values.json}`);
    }
  } finally {
    await host.close();
  }
}

const fmt = (s: { width: number; height: number }): string => `${s.width}x${s.height}`;

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
