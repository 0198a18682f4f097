import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Board } from '../../board/schema.js';
import { MEDIA, NO_BROKER } from '../harness/boot.js';
import { detectBoard } from './detect-daemon-media.js';

/**
 * Footage and settings that keep the inference thread busy, for the stop tests: a stop then
 * lands while the model runs. The bottle clip (11–18 s: hands reaching for bottles, change in
 * every frame) at its own 30 fps, the tap at 30 fps and `maxRatePerLens` 30, so each lens asks
 * for the next inference one frame after the last one came back. Made once per machine, never
 * written into the shared media.
 */
const DIR = join(tmpdir(), 'camd-test-media-detect-stop-v1');
export const BUSY_FPS = 30;

export function busyClip(): string {
  const file = join(DIR, 'bottle30.mp4');
  if (existsSync(file)) return file;
  mkdirSync(DIR, { recursive: true });
  const tmp = join(DIR, `.${process.pid}-${Date.now()}-bottle30.mp4`);
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-ss', '11', '-t', '7', '-i', join(MEDIA, 'bottle-detection.mp4'),
    '-vf', `scale=640:360,fps=${BUSY_FPS}`, '-an', '-c:v', 'libx264', '-preset', 'veryfast',
    '-g', String(BUSY_FPS), '-keyint_min', String(BUSY_FPS), '-sc_threshold', '0', '-pix_fmt', 'yuv420p', tmp,
  ]);
  renameSync(tmp, file);
  return file;
}

/** The sim board with both lenses on the busy clip at 30 fps (audio files in `dir`). */
export function busyBoard(dir: string): (b: Board) => Board {
  const clip = busyClip();
  return (b) => {
    const d = detectBoard(dir, { wide: clip, ptz: clip })(b);
    const lens = (l: Board['video']['wide']): Board['video']['wide'] => ({
      ...l,
      fps: BUSY_FPS,
      profiles: Object.fromEntries(Object.entries(l.profiles).map(([k, p]) => [k, { ...p, fps: BUSY_FPS }])),
    });
    return { ...d, video: { wide: lens(d.video.wide), ptz: lens(d.video.ptz) } };
  };
}

/** config.json for the busy runs: every detection type on, no rate limit to speak of. */
export const BUSY_CONFIG = {
  ...NO_BROKER,
  capture: { tap: { fps: BUSY_FPS } },
  detection: { human: { enabled: true }, vehicle: { enabled: true }, change: { enabled: true }, maxRatePerLens: 30 },
};

/** The `object detector stopped` line of a daemon's JSON log, if it has one. */
export function detectorStopped(log: string): { inFlight: number; ms: number } | undefined {
  return detectorStops(log)[0];
}

/** Every `object detector stopped` line (one per stop of the detection service), in order. */
export function detectorStops(log: string): { inFlight: number; ms: number }[] {
  const out: { inFlight: number; ms: number }[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"object detector stopped"')) continue;
    const j = JSON.parse(line) as { inFlight: number; ms: number };
    out.push({ inFlight: j.inFlight, ms: j.ms });
  }
  return out;
}
