import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Board } from '../../../board/schema.js';
import type { TapFrame } from '../../../src/capture/types.js';
import { MEDIA } from '../../harness/boot.js';

/** A tap frame to keep: the tap's planes are pooled and reused once the handlers return. */
export function copyFrame(f: TapFrame): TapFrame {
  return {
    ...f,
    gray: { ...f.gray, data: Buffer.from(f.gray.data) },
    ...(f.rgb ? { rgb: { ...f.rgb, data: Buffer.from(f.rgb.data) } } : {}),
  };
}

/**
 * Small real footage for capture tests: 20 s of the shared person clip at 320x180, 10 fps, a
 * keyframe every 0.5 s (so 2 s segments cut exactly), made once per machine with ffmpeg.
 */
export const SMALL = { width: 320, height: 180, fps: 10 };

export function smallClip(): string {
  const dir = join(tmpdir(), 'camd-test-media-v1');
  const file = join(dir, 'person-320x180.mp4');
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${process.pid}-${Date.now()}.mp4`);
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-i', join(MEDIA, 'one-by-one-person-detection.mp4'), '-t', '20', '-an',
    '-vf', `scale=${SMALL.width}:${SMALL.height},fps=${SMALL.fps}`, '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline',
    '-g', '5', '-keyint_min', '5', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', tmp,
  ]);
  renameSync(tmp, file);
  return file;
}

/** 2 s of a still picture (the dog) as an H.264 clip: the same image every frame. */
export function stillClip(): string {
  const dir = join(tmpdir(), 'camd-test-media-v1');
  const file = join(dir, 'dog-320x180.mp4');
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${process.pid}-${Date.now()}-still.mp4`);
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-i', join(MEDIA, 'dog.jpg'), '-t', '2',
    '-vf', `scale=${SMALL.width}:${SMALL.height},fps=${SMALL.fps}`, '-c:v', 'libx264', '-preset', 'veryfast', '-g', '5', '-pix_fmt', 'yuv420p', tmp,
  ]);
  renameSync(tmp, file);
  return file;
}

/** A 16 kHz mono WAV with a sine tone, for talk and microphone tests. */
export function toneWav(file: string, hz: number, seconds: number): string {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=16000:duration=${seconds}`, '-ac', '1', file]);
  return file;
}

/** The sim board with both lenses on the small clip and the audio files in `dir`. */
export function smallBoard(dir: string, patch: (b: Board) => Board = (b) => b): (b: Board) => Board {
  const clip = smallClip();
  const profiles = {
    hd: { width: SMALL.width, height: SMALL.height, fps: SMALL.fps, bitrateKbps: 300 },
    sd: { width: 160, height: 90, fps: SMALL.fps, bitrateKbps: 120 },
  };
  const lens = { source: { kind: 'file' as const, path: clip, loop: true }, width: SMALL.width, height: SMALL.height, fps: SMALL.fps, codec: 'h264' as const, profiles, defaultProfile: 'hd' };
  return (b) =>
    patch({
      ...b,
      video: { wide: lens, ptz: lens },
      audio: { speaker: { wavFile: join(dir, 'speaker.wav') }, microphone: { wavFile: join(dir, 'microphone.wav') } },
    });
}

const made: string[] = [];

/** Removes the dirs testDir() made (call after the daemon stopped and the card is unmounted). */
export function removeTestDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh test dir whose config.json (small tap, 2 s segments) is in place before boot. */
export function testDir(config: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'camd-cap-'));
  made.push(dir);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const base = { capture: { tap: { width: 64, height: 36, fps: 5, rgbWidth: 128, rgbHeight: 72 } }, recording: { segmentSeconds: 2 } };
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(deepMerge(base, config)));
  return dir;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Every process whose command line mentions `needle` (e.g. a test's temp dir). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSafe('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(needle) && Number(pid) !== process.pid) out.push(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

