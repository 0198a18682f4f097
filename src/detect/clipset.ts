import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClipTruth, GroundTruth, Range } from './truth.js';
import { runFfmpeg } from '../core/ffmpeg.js';
import { mulberry32 } from '../core/prng.js';

/**
 * Labelled composite clips for the eval (scripts/eval-clips.ts writes them, scripts/eval.ts
 * --set runs them). Rectangular cut-outs of the sample stills are moved across backgrounds
 * (stills, a frame of a sample clip, or a sample clip itself) with ffmpeg `overlay`; since the
 * generator places every object, the ground truth is computed from the positions, not
 * labelled by eye: a range runs from the first to the last output frame in which any pixel
 * of the object is inside the picture (the hand labels' "any part in view" rule). A background
 * clip's own hand labels (test/fixtures/ground-truth.json) are shifted and merged in.
 *
 * The set is split by scene and object so that `heldout` has backgrounds and objects `tune`
 * never shows (the only human still is person.jpg, so its person is in both sets; held-out
 * shows it mirrored, on other scenes). Everything derives from a seed: same seed, same files.
 */
export const OUT_W = 640;
export const OUT_H = 360;
export const OUT_FPS = 15;

export type SetName = 'tune' | 'heldout';

/** A rectangle cut out of a still; `cls` null = a distractor (animal: motion, no alert class). */
export interface Cutout {
  name: string;
  still: string;
  crop: { x: number; y: number; w: number; h: number };
  cls: 'human' | 'vehicle' | null;
  hflip?: boolean;
}

/** Where the cut-outs are taken from (pixel rectangles read off the stills by eye). */
export const CUTOUTS = {
  person: { name: 'person', still: 'person.jpg', crop: { x: 194, y: 96, w: 86, h: 282 }, cls: 'human' },
  personMirrored: { name: 'person-mirrored', still: 'person.jpg', crop: { x: 194, y: 96, w: 86, h: 282 }, cls: 'human', hflip: true },
  truck: { name: 'truck', still: 'dog.jpg', crop: { x: 462, y: 70, w: 242, h: 102 }, cls: 'vehicle' },
  bicycle: { name: 'bicycle', still: 'dog.jpg', crop: { x: 124, y: 132, w: 446, h: 290 }, cls: 'vehicle' },
  dog: { name: 'dog', still: 'person.jpg', crop: { x: 62, y: 258, w: 138, h: 90 }, cls: null },
  horse: { name: 'horse', still: 'person.jpg', crop: { x: 404, y: 136, w: 200, h: 214 }, cls: null },
} as const satisfies Record<string, Cutout>;

export type Background =
  | { kind: 'still'; name: string; file: string }
  /** One frame of a sample clip at `at` seconds, held (an empty scene of a real camera). */
  | { kind: 'frame'; name: string; file: string; at: number }
  /** The sample clip itself from `from` seconds; its hand labels are merged into the truth. */
  | { kind: 'clip'; name: string; file: string; from: number };

export const BACKGROUNDS = {
  room: { kind: 'frame', name: 'room', file: 'one-by-one-person-detection.mp4', at: 2 },
  bottles: { kind: 'clip', name: 'bottles', file: 'bottle-detection.mp4', from: 0 },
  eagle: { kind: 'still', name: 'eagle', file: 'eagle.jpg' },
  road: { kind: 'clip', name: 'road', file: 'car-detection.mp4', from: 0 },
  giraffe: { kind: 'still', name: 'giraffe', file: 'giraffe.jpg' },
  horses: { kind: 'still', name: 'horses', file: 'horses.jpg' },
} as const satisfies Record<string, Background>;

/** One object's straight path: top-left corner from (x0,y0) at t0 to (x1,y1) at t1, output pixels. */
export interface Placement {
  cutout: Cutout;
  /** Object height in output pixels (width from the crop's aspect, even). */
  height: number;
  t0: number;
  t1: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export type Effect = 'none' | 'lighting' | 'noise';

export interface CompositeSpec {
  name: string;
  set: SetName;
  background: Background;
  durationSec: number;
  objects: Placement[];
  effect: Effect;
}


export const objectWidth = (c: Cutout, height: number): number => Math.max(2, Math.round((c.crop.w * height) / c.crop.h / 2) * 2);

/**
 * An object walking/driving across the whole picture: it enters fully outside one edge at t0
 * and leaves fully outside the other, its bottom edge at `bottom` (fraction of the height).
 */
export function crossing(cutout: Cutout, o: { heightFrac: number; speedPxS: number; t0: number; bottom: number; rightToLeft?: boolean }): Placement {
  const height = Math.max(8, Math.round((o.heightFrac * OUT_H) / 2) * 2);
  const w = objectWidth(cutout, height);
  const y = Math.round(Math.min(o.bottom * OUT_H, OUT_H) - height);
  const [x0, x1] = o.rightToLeft ? [OUT_W, -w] : [-w, OUT_W];
  return { cutout, height, t0: o.t0, t1: round2(o.t0 + (OUT_W + w) / o.speedPxS), x0, y0: y, x1, y1: y };
}

/**
 * Walks in, stands still for `stopSec` with its left edge at `stopAt` (fraction of the width),
 * walks out the far side: three straight pieces (the standing one does not move), so the
 * change detector absorbs the standing person and only the tracker's keep-alive looks at it.
 */
export function walkAndStop(cutout: Cutout, o: { heightFrac: number; speedPxS: number; t0: number; bottom: number; stopAt: number; stopSec: number }): Placement[] {
  const full = crossing(cutout, o);
  const xs = Math.round(o.stopAt * OUT_W);
  const ta = round2(o.t0 + (xs - full.x0) / o.speedPxS);
  const tb = round2(ta + o.stopSec);
  const tc = round2(tb + (full.x1 - xs) / o.speedPxS);
  return [
    { ...full, t1: ta, x1: xs },
    { ...full, t0: ta, t1: tb, x0: xs, x1: xs },
    { ...full, t0: tb, t1: tc, x0: xs },
  ];
}

const at = (p: Placement, t: number): { x: number; y: number } => {
  const f = p.t1 === p.t0 ? 0 : (t - p.t0) / (p.t1 - p.t0);
  return { x: p.x0 + (p.x1 - p.x0) * f, y: p.y0 + (p.y1 - p.y0) * f };
};

/** [first, last] output-frame time at which some pixel of the object is in the picture. */
export function visibleRange(p: Placement, durationSec: number, fps = OUT_FPS): Range | null {
  const w = objectWidth(p.cutout, p.height);
  let first: number | null = null;
  let last: number | null = null;
  const frames = Math.round(durationSec * fps);
  for (let i = 0; i < frames; i++) {
    const t = i / fps;
    if (t < p.t0 || t > p.t1) continue;
    // overlay rounds the expression to whole pixels; a pixel is in view when it lands on the canvas.
    const { x, y } = at(p, t);
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi + w > 0 && xi < OUT_W && yi + p.height > 0 && yi < OUT_H) {
      first ??= t;
      last = t;
    }
  }
  return first === null || last === null ? null : [round2(first), round2(last)];
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

/** Sorted union; ranges less than two output frames apart are one (pieces of one path share a frame, times are rounded to 0.01 s). */
export function mergeRanges(ranges: readonly Range[], gap = 1.5 / OUT_FPS): Range[] {
  const out: Range[] = [];
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) {
    const prev = out[out.length - 1];
    if (prev && a <= prev[1] + gap) prev[1] = Math.max(prev[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The background clip's hand labels, moved to the composite's timeline and cut to its length. */
function shiftRanges(ranges: readonly Range[], from: number, durationSec: number): Range[] {
  return ranges
    .map(([a, b]): Range => [round2(Math.max(0, a - from)), round2(Math.min(durationSec, b - from))])
    .filter(([a, b]) => b > a);
}

export function truthOf(spec: CompositeSpec, hand: GroundTruth | null): ClipTruth {
  const human: Range[] = [];
  const vehicle: Range[] = [];
  const motion: Range[] = [];
  const bg = spec.background;
  if (bg.kind === 'clip') {
    const t = hand?.clips[bg.file];
    if (!t) throw new Error(`no hand labels for background clip ${bg.file}: its people/vehicles would count as false alarms`);
    human.push(...shiftRanges(t.human, bg.from, spec.durationSec));
    vehicle.push(...shiftRanges(t.vehicle, bg.from, spec.durationSec));
    motion.push(...shiftRanges(t.motion, bg.from, spec.durationSec));
  }
  for (const p of spec.objects) {
    const r = visibleRange(p, spec.durationSec);
    if (!r) continue;
    if (p.cutout.cls === 'human') human.push(r);
    if (p.cutout.cls === 'vehicle') vehicle.push(r);
    motion.push(r);
  }
  const objs = spec.objects.map((p) => `${p.cutout.name} h=${p.height}px ${Math.round(Math.abs(p.x1 - p.x0) / (p.t1 - p.t0))}px/s ${p.t0}-${p.t1}s`);
  return {
    durationSec: spec.durationSec,
    human: mergeRanges(human),
    vehicle: mergeRanges(vehicle),
    motion: mergeRanges(motion),
    notes: `generated (${spec.set}): background ${bg.name}${bg.kind === 'clip' ? ` (${bg.file} from ${bg.from}s, hand labels merged)` : ''}; effect ${spec.effect}; ${objs.length ? objs.join('; ') : 'no objects'}`,
  };
}

/** The ffmpeg command line that renders a spec (640x360, 15 fps, H.264, no audio). */
export function ffmpegArgs(spec: CompositeSpec, media: string, out: string, roomFrame?: string): string[] {
  const D = spec.durationSec;
  const bg = spec.background;
  const inputs: string[] = [];
  if (bg.kind === 'clip') inputs.push('-ss', String(bg.from), '-t', String(D), '-i', join(media, bg.file));
  else inputs.push('-loop', '1', '-framerate', String(OUT_FPS), '-t', String(D), '-i', bg.kind === 'frame' ? (roomFrame ?? '') : join(media, bg.file));
  const chains: string[] = [];
  // Stills are stretched to 16:9, as the capture tap stretches to its size; clips are 16:9 already.
  let base = `[0:v]fps=${OUT_FPS},scale=${OUT_W}:${OUT_H}:flags=area,setsar=1,format=yuv420p`;
  if (spec.effect === 'lighting') base += `,eq=brightness='0.22*sin(2*PI*t/5)':eval=frame`;
  if (spec.effect === 'noise') base += ',noise=alls=30:allf=t+u';
  chains.push(`${base}[b0]`);
  spec.objects.forEach((p, i) => {
    inputs.push('-loop', '1', '-framerate', String(OUT_FPS), '-t', String(D), '-i', join(media, p.cutout.still));
    const c = p.cutout.crop;
    const w = objectWidth(p.cutout, p.height);
    chains.push(`[${i + 1}:v]crop=${c.w}:${c.h}:${c.x}:${c.y},scale=${w}:${p.height}:flags=area${p.cutout.hflip ? ',hflip' : ''},setsar=1[o${i}]`);
    const dt = p.t1 - p.t0;
    const x = `${p.x0}+(${p.x1 - p.x0})*(t-${p.t0})/${dt}`;
    const y = `${p.y0}+(${p.y1 - p.y0})*(t-${p.t0})/${dt}`;
    chains.push(`[b${i}][o${i}]overlay=x='${x}':y='${y}':enable='between(t,${p.t0},${p.t1})':eof_action=pass:eval=frame[b${i + 1}]`);
  });
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...inputs,
    '-filter_complex', chains.join(';'), '-map', `[b${spec.objects.length}]`, '-t', String(D), '-r', String(OUT_FPS),
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', '-an', out,
  ];
}

/** Renders one spec into `dir` (and the held room frame once); returns the clip's path. */
export async function renderClip(spec: CompositeSpec, media: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  let roomFrame: string | undefined;
  if (spec.background.kind === 'frame') {
    roomFrame = join(dir, `${spec.background.name}-frame.png`);
    if (!(await stat(roomFrame).catch(() => null))) {
      await runFfmpeg(['-v', 'error', '-y', '-ss', String(spec.background.at), '-i', join(media, spec.background.file), '-frames:v', '1', roomFrame]);
    }
  }
  const out = join(dir, `${spec.name}.mp4`);
  await runFfmpeg(ffmpegArgs(spec, media, out, roomFrame));
  return out;
}

/**
 * The set. Tune: the empty room, the bottle table (with its real hands), the eagle; person,
 * truck, dog. Held-out: the road from above (with its real cars), the giraffes, the horses;
 * the person mirrored, the bicycle, the horse. Scales 0.2–0.85 of the picture height, speeds
 * 60–260 px/s (a walker to a cyclist at this width), start times and heights drawn from `seed`.
 */
export function buildClipSet(seed = 12): CompositeSpec[] {
  const rnd = mulberry32(seed);
  const pick = (lo: number, hi: number, d = 2): number => Math.round((lo + (hi - lo) * rnd()) * 10 ** d) / 10 ** d;
  const specs: CompositeSpec[] = [];
  const add = (set: SetName, bg: Background, durationSec: number, objects: Placement[], effect: Effect = 'none', tag = ''): void => {
    const what = [...new Set(objects.map((p) => p.cutout.name))].join('+') || (effect === 'none' ? 'empty' : effect);
    specs.push({ name: `${set}-${bg.name}-${what}${tag}`, set, background: bg, durationSec, objects, effect });
  };
  const walk = (c: Cutout, heightFrac: [number, number], speed: [number, number], t0: number, rtl = rnd() < 0.5): Placement =>
    crossing(c, { heightFrac: pick(...heightFrac), speedPxS: Math.round(pick(...speed, 0)), t0, bottom: pick(0.8, 1), rightToLeft: rtl });
  const stop = (c: Cutout, heightFrac: [number, number], t0: number, stopSec: number): Placement[] =>
    walkAndStop(c, { heightFrac: pick(...heightFrac), speedPxS: Math.round(pick(90, 130, 0)), t0, bottom: pick(0.85, 1), stopAt: pick(0.3, 0.55), stopSec });
  /** Two visitors, the second entering `gapS` after the first has left (two ranges, two episodes expected). */
  const twoVisits = (c: Cutout, heightFrac: [number, number], t0: number, gapS: number): Placement[] => {
    const a = walk(c, heightFrac, [150, 200], t0);
    return [a, walk(c, heightFrac, [150, 200], round2(a.t1 + gapS))];
  };
  const B = BACKGROUNDS;
  const C = CUTOUTS;
  // tune
  add('tune', B.room, 10, [walk(C.person, [0.7, 0.85], [80, 120], 0.5)], 'none', '-large');
  add('tune', B.room, 10, [walk(C.person, [0.4, 0.5], [140, 200], 1)], 'none', '-medium');
  add('tune', B.room, 12, [walk(C.person, [0.2, 0.26], [60, 90], 0.5)], 'none', '-small');
  add('tune', B.room, 14, [walk(C.person, [0.1, 0.14], [40, 70], 0.5)], 'none', '-distant');
  add('tune', B.room, 18, stop(C.person, [0.5, 0.7], 0.5, 7), 'none', '-stops');
  add('tune', B.room, 14, [walk(C.dog, [0.25, 0.35], [100, 160], 0.5), walk(C.person, [0.5, 0.7], [120, 180], 7.5)]);
  add('tune', B.bottles, 10, [walk(C.person, [0.55, 0.7], [100, 160], 1.5)]);
  add('tune', B.eagle, 10, [walk(C.truck, [0.25, 0.35], [180, 260], 1)]);
  add('tune', B.eagle, 14, [walk(C.truck, [0.2, 0.3], [150, 220], 0.5), walk(C.person, [0.45, 0.6], [90, 130], 6)]);
  add('tune', B.eagle, 18, twoVisits(C.person, [0.4, 0.55], 0.5, 4.5), 'none', '-twice');
  add('tune', B.room, 10, []);
  add('tune', B.room, 10, [], 'lighting');
  add('tune', B.eagle, 10, [], 'noise');
  // held-out
  add('heldout', B.giraffe, 10, [walk(C.personMirrored, [0.6, 0.8], [90, 140], 0.5)], 'none', '-large');
  add('heldout', B.giraffe, 12, [walk(C.personMirrored, [0.22, 0.3], [70, 110], 1)], 'none', '-small');
  add('heldout', B.giraffe, 14, [walk(C.personMirrored, [0.09, 0.12], [40, 70], 0.5)], 'none', '-distant');
  add('heldout', B.horses, 18, stop(C.personMirrored, [0.4, 0.6], 0.5, 8), 'none', '-stops');
  add('heldout', B.horses, 14, [walk(C.horse, [0.35, 0.5], [80, 120], 0.5), walk(C.personMirrored, [0.45, 0.6], [130, 190], 7)]);
  add('heldout', B.road, 12, [walk(C.personMirrored, [0.5, 0.65], [100, 150], 8)]);
  add('heldout', B.road, 12, [walk(C.personMirrored, [0.35, 0.45], [320, 420], 9.5)], 'none', '-runner');
  add('heldout', B.giraffe, 18, twoVisits(C.personMirrored, [0.35, 0.5], 0.5, 4), 'none', '-twice');
  add('heldout', B.horses, 10, [walk(C.bicycle, [0.35, 0.5], [160, 240], 1)]);
  add('heldout', B.giraffe, 10, [], 'none');
  add('heldout', B.horses, 10, [], 'lighting');
  add('heldout', B.giraffe, 10, [], 'noise');
  return specs;
}

export interface SetManifest {
  seed: number;
  generatedBy: string;
  clips: Array<{ name: string; set: SetName; file: string }>;
}

/** Renders the whole set into `dir`: the clips, `truth.json` (GroundTruth) and `set.json`. */
export async function generateSet(o: { dir: string; media: string; hand: GroundTruth; seed?: number; only?: SetName; log?: (line: string) => void }): Promise<SetManifest> {
  const seed = o.seed ?? 12;
  const specs = buildClipSet(seed).filter((s) => !o.only || s.set === o.only);
  const truth: GroundTruth = {
    method: `Generated by scripts/eval-clips.ts (seed ${seed}): ranges computed from the overlay positions (first to last output frame at ${OUT_FPS} fps in which any pixel of the object is in the picture); background clips' hand labels from test/fixtures/ground-truth.json shifted and merged.`,
    policy: { human: 'the person cut-out of person.jpg (rectangular, with its grass)', vehicle: 'the truck or the bicycle cut-out of dog.jpg', motion: 'any moving cut-out (also the animal distractors) and the background clip\'s own motion; lighting ramps and sensor noise are not motion' },
    clips: {},
    stills: {},
  };
  const manifest: SetManifest = { seed, generatedBy: 'scripts/eval-clips.ts', clips: [] };
  for (const spec of specs) {
    const file = await renderClip(spec, o.media, o.dir);
    truth.clips[`${spec.name}.mp4`] = truthOf(spec, o.hand);
    manifest.clips.push({ name: spec.name, set: spec.set, file: `${spec.name}.mp4` });
    o.log?.(`${file}`);
  }
  await writeFile(join(o.dir, 'truth.json'), JSON.stringify(truth, null, 2));
  await writeFile(join(o.dir, 'set.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}
