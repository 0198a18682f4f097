/**
 * Renders the labelled composite clips for `npm run eval -- --set tune|heldout|all`.
 *
 *   node --import tsx scripts/eval-clips.ts [--out dir] [--seed 12] [--set tune|heldout|all] [--media dir]
 *
 * Writes <out>/<name>.mp4, <out>/truth.json (ground truth computed from the overlay positions)
 * and <out>/set.json (which clip is in which set). Default out: $TMPDIR/camd-eval-clips. The
 * files are not committed: the same seed renders the same set (src/detect/clipset.ts).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CLIPSET_DIR, DEFAULT_MEDIA, DEFAULT_TRUTH } from '../src/detect/eval-runner.js';
import { generateSet } from '../src/detect/clipset.js';
import { loadTruth } from '../src/detect/truth.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: DEFAULT_CLIPSET_DIR },
      seed: { type: 'string', default: '12' },
      set: { type: 'string', default: 'all' },
      media: { type: 'string', default: DEFAULT_MEDIA },
    },
  });
  const set = values.set;
  if (set !== 'all' && set !== 'tune' && set !== 'heldout') throw new Error(`--set ${set}: use tune, heldout or all`);
  const started = Date.now();
  const m = await generateSet({
    dir: values.out,
    media: values.media,
    hand: await loadTruth(DEFAULT_TRUTH),
    seed: Number(values.seed),
    only: set === 'all' ? undefined : set,
    log: (line) => console.log(line),
  });
  console.log(`${m.clips.length} clips (${m.clips.filter((c) => c.set === 'tune').length} tune, ${m.clips.filter((c) => c.set === 'heldout').length} held-out) in ${values.out}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
