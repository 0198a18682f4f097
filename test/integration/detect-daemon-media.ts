import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Board } from '../../board/schema.js';
import { MEDIA } from '../harness/boot.js';

/**
 * Short cuts of the shared footage for the detection-daemon tests, made once per machine with
 * ffmpeg (never written into the shared media). 640x360 at 10 fps, a keyframe every second (2 s
 * recording segments cut cleanly). Each clip loops in the sim capture, at real time (-re).
 *
 * - person: the empty room, a person walking in from the bottom edge and standing at the table
 *   (person clip 3.0–12.0 s), then the empty room again (0.0–5.5 s): an episode that starts and,
 *   after the jump cut, ends.
 * - bottle: bottle clip 11.0–18.0 s — a hand reaching in to take and put back bottles, two hands
 *   at once near the end. No vehicle.
 * - static: one frame of the empty room (person clip at 1 s), looped (`-loop 1`).
 */
const DIR = join(tmpdir(), 'camd-test-media-detect-v1');

function make(name: string, args: (out: string) => string[]): string {
  const file = join(DIR, name);
  if (existsSync(file)) return file;
  mkdirSync(DIR, { recursive: true });
  const tmp = join(DIR, `.${process.pid}-${Date.now()}-${name}`);
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args(tmp)]);
  renameSync(tmp, file);
  return file;
}

const ENCODE = ['-an', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '10', '-keyint_min', '10', '-sc_threshold', '0', '-pix_fmt', 'yuv420p'];

export function personClip(): string {
  return make('person.mp4', (out) => [
    '-i', join(MEDIA, 'one-by-one-person-detection.mp4'),
    '-filter_complex',
    '[0:v]split=2[a][b];[a]trim=3:12,setpts=PTS-STARTPTS[p];[b]trim=0:5.5,setpts=PTS-STARTPTS[e];[p][e]concat=n=2:v=1,scale=640:360,fps=10[v]',
    '-map', '[v]', ...ENCODE, out,
  ]);
}

export function bottleClip(): string {
  return make('bottle.mp4', (out) => ['-ss', '11', '-t', '7', '-i', join(MEDIA, 'bottle-detection.mp4'), '-vf', 'scale=640:360,fps=10', ...ENCODE, out]);
}

export function staticClip(): string {
  const still = make('still.png', (out) => ['-ss', '1', '-i', join(MEDIA, 'one-by-one-person-detection.mp4'), '-frames:v', '1', '-vf', 'scale=640:360', out]);
  return make('static.mp4', (out) => ['-loop', '1', '-i', still, '-t', '3', '-vf', 'fps=10', ...ENCODE, out]);
}

/** The sim board with each lens on its own clip, audio files and (optionally) the model path in `dir`. */
export function detectBoard(dir: string, clips: { wide: string; ptz: string }, model?: string): (b: Board) => Board {
  const lens = (path: string): Board['video']['wide'] => ({
    source: { kind: 'file', path, loop: true },
    width: 640,
    height: 360,
    fps: 10,
    codec: 'h264',
    profiles: { hd: { width: 640, height: 360, fps: 10, bitrateKbps: 600 } },
    defaultProfile: 'hd',
  });
  return (b) => ({
    ...b,
    video: { wide: lens(clips.wide), ptz: lens(clips.ptz) },
    audio: { speaker: { wavFile: join(dir, 'speaker.wav') }, microphone: { wavFile: join(dir, 'microphone.wav') } },
    paths: { ...b.paths, ...(model ? { model } : {}) },
  });
}

const made: string[] = [];

/**
 * A fresh test dir with config.json in place before boot: the tap at the config defaults (gray
 * 352x198 + RGB 640x360) but 5 fps, event recording with short rolls and 2 s segments, and
 * `detection` as given.
 */
export function detectDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'camd-det-'));
  made.push(dir);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const base = { capture: { tap: { fps: 5 } }, recording: { mode: 'event', preRollSeconds: 2, postRollSeconds: 2, segmentSeconds: 2 } };
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ ...base, ...config }));
  return dir;
}

export function removeDetectDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
