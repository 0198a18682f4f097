/**
 * Accuracy of the detection engine on a clip (or a still), against hand-made ground truth.
 *
 *   node --import tsx scripts/eval.ts <clip.mp4|image.jpg> [--truth file] [--json out.json]
 *        [--feeds squash,crops] [--fps 10] [--sensitivity 50] [--rate 5] [--threads 1]
 *        [--zoom-out N]   (shrink the picture N times, gray border: simulates distant objects)
 *
 * The clip is decoded by ffmpeg into gray + RGB frames (as the capture tap delivers them) and
 * replayed through `LensPipeline` — change gate, crops, thresholds, tracker — once per feed
 * mode, so "whole-frame squash" and "motion crops" are compared on identical frames. Without
 * truth for the clip it lists the episodes. Truth defaults to test/fixtures/ground-truth.json
 * when that file knows the clip by name.
 */
import { writeFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { FEED_MODES, type FeedMode } from '../src/detect/crops.js';
import { DetectorHost } from '../src/detect/detector-host.js';
import { runClip, type ClipRun } from '../src/detect/evaluate.js';
import { allEnabled } from '../src/detect/settings.js';
import { decodeImage, detectStill } from '../src/detect/stills.js';
import { loadTruth, scoreClip, truthFor, type ClassScore, type ClipTruth } from '../src/detect/truth.js';
import type { DetectionType } from '../src/detect/types.js';

const DEFAULT_TRUTH = new URL('../test/fixtures/ground-truth.json', import.meta.url).pathname;
const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.bmp']);

const pct = (v: number | null): string => (v === null ? '  -  ' : `${(v * 100).toFixed(0).padStart(4)}%`);
const num = (v: number | null, d = 1): string => (v === null ? '-' : v.toFixed(d));

function printEpisodes(run: ClipRun): void {
  console.log(`\n[${run.feed}] ${run.frames} frames at ${run.fps} fps; inferences ${run.stats.inferenceRequests} (${run.stats.inferenceCrops} crops, ${run.stats.keepaliveRequests} keep-alive); frames without change ${run.stats.staticFrames}/${run.stats.frames}; rate-dropped ${run.stats.droppedRate}`);
  if (run.errors.length) console.log(`  errors: ${run.errors.slice(0, 3).join('; ')}`);
  for (const e of run.episodes) {
    console.log(`  ${e.type.padEnd(7)} ${num(e.start).padStart(6)}s – ${num(e.end).padStart(6)}s  best ${e.bestScore.toFixed(2)}  objects ${e.objects}${e.alert ? '' : '  (cooldown: no alert)'}`);
  }
  if (run.episodes.length === 0) console.log('  (no episodes)');
}

function printScores(feed: FeedMode, s: Record<DetectionType, ClassScore>): void {
  for (const t of ['human', 'vehicle', 'change'] as const) {
    const c = s[t];
    if (c.ranges === 0 && c.episodes === 0 && t === 'change') continue;
    console.log(
      `  ${feed.padEnd(9)} ${t.padEnd(7)} truth ${String(c.ranges).padStart(2)}  episodes ${String(c.episodes).padStart(2)}  ` +
        `precision ${pct(c.precision)}  recall ${pct(c.recall)}  delay ${num(c.meanDelayS)}s` +
        (t === 'change' ? '' : `  per-inference hit ${pct(c.inferenceRecall)} false ${pct(c.inferenceFalseRate)}`),
    );
  }
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

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      truth: { type: 'string' },
      json: { type: 'string' },
      feeds: { type: 'string', default: 'squash,crops' },
      fps: { type: 'string' },
      sensitivity: { type: 'string', default: '50' },
      rate: { type: 'string', default: '5' },
      threads: { type: 'string', default: '1' },
      'zoom-out': { type: 'string' },
    },
  });
  const clip = positionals[0];
  if (!clip) {
    console.error('usage: node --import tsx scripts/eval.ts <clip.mp4|image.jpg> [--truth file] [--json out] [--feeds squash,crops] [--fps N] [--sensitivity 1..100]');
    process.exit(2);
  }
  const feeds = values.feeds.split(',').map((f) => f.trim()) as FeedMode[];
  const bad = feeds.find((f) => !FEED_MODES.includes(f));
  if (bad) throw new Error(`unknown feed mode ${bad}; use ${FEED_MODES.join(', ')}`);
  const settings = allEnabled(Number(values.sensitivity), Number(values.rate));
  const host = await DetectorHost.open({ threads: Number(values.threads) });
  try {
    if (IMAGE_EXT.has(extname(clip).toLowerCase())) {
      const res = await evalImage(host, clip, feeds);
      if (values.json) await writeFile(values.json, JSON.stringify({ image: clip, detections: res }, null, 2));
      return;
    }
    let truth: ClipTruth | null = null;
    if (values.truth) {
      truth = truthFor(await loadTruth(values.truth), clip);
      if (!truth) console.log(`note: ${values.truth} has no entry for ${basename(clip)}; listing episodes only`);
    } else {
      truth = truthFor(await loadTruth(DEFAULT_TRUTH).catch(() => ({ method: '', policy: {}, clips: {}, stills: {} })), clip);
      if (truth) console.log(`truth: ${DEFAULT_TRUTH}`);
    }
    const runs: Array<{ feed: FeedMode; run: ClipRun; score: Record<DetectionType, ClassScore> | null }> = [];
    for (const feed of feeds) {
      const run = await runClip({ clip, detector: host, feed, settings, fps: values.fps ? Number(values.fps) : undefined, zoomOut: values['zoom-out'] ? Number(values['zoom-out']) : undefined });
      printEpisodes(run);
      runs.push({ feed, run, score: truth ? scoreClip(run, truth) : null });
    }
    if (truth) {
      console.log(`\n${basename(clip)} — event precision/recall per class (sensitivity ${values.sensitivity}; tolerance 1 s)`);
      for (const r of runs) printScores(r.feed, r.score!);
    }
    if (values.json) {
      const slim = runs.map((r) => ({ feed: r.feed, fps: r.run.fps, frames: r.run.frames, stats: r.run.stats, episodes: r.run.episodes, score: r.score, errors: r.run.errors }));
      await writeFile(values.json, JSON.stringify({ clip, truth, runs: slim }, null, 2));
      console.log(`\nwrote ${values.json}`);
    }
  } finally {
    await host.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
