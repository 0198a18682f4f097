import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Board } from '../../board/schema.js';
import type { PtzMotor } from '../../drivers/devices/types.js';
import { sleep, type Clock } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import type { ProcessSet } from './proc.js';

/** Pan positions for `shots` pictures spread over the PTZ lens's range (wrapping at 360°). */
export function sweepPositions(minDeg: number, maxDeg: number, shots: number): number[] {
  const span = maxDeg - minDeg;
  const step = span >= 360 - 360 / shots ? 360 / shots : span / Math.max(1, shots - 1);
  return Array.from({ length: shots }, (_, i) => Math.min(maxDeg, minDeg + i * step));
}

/**
 * Sim board: what the PTZ lens "sees" at `panDeg`. The world is the wide source stretched to 3x
 * its width as a 360° cylinder; the lens shows a slice 360/shots degrees wide starting at the
 * pan angle (wrapping), so shots taken round the circle tile the world exactly. The pan angle is
 * the one the PTZ twin reports, not the one commanded.
 */
export function simCropArgs(board: Board, panDeg: number, shots: number, out: string): string[] {
  const src = board.video.wide.source;
  if (src.kind !== 'file') throw new CamdError('unavailable', 'the sim 360° view needs a file source on the wide lens');
  const { width: w, height: h } = board.video.wide;
  const world = 3 * w;
  const cw = Math.floor(world / shots / 2) * 2;
  const x = Math.round(((((panDeg % 360) + 360) % 360) / 360) * world);
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', src.path, '-frames:v', '1',
    '-filter_complex', `[0:v]scale=${world}:${h},split[a][b];[a][b]hstack,crop=${cw}:${h}:${x}:0`,
    '-q:v', '3', out,
  ];
}

export function stitchArgs(inputs: string[], out: string): string[] {
  const ins = inputs.flatMap((f) => ['-i', f]);
  const labels = inputs.map((_, i) => `[${i}:v]`).join('');
  return ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...ins, '-filter_complex', `${labels}hstack=inputs=${inputs.length},format=yuvj420p`, '-q:v', '3', out];
}

export interface SweepDeps {
  ptz: PtzMotor;
  board: Board;
  clock: Clock;
  procs: ProcessSet;
  workDir: string;
  /** Board: the PTZ lens's latest snapshot file (refreshed by its capture ffmpeg). */
  ptzSnapshot: string;
  sim: boolean;
}

/** Waits until the motor reports the target (±0.5°), bounded by the time the move should take. */
async function arrive(d: SweepDeps, target: number): Promise<number> {
  const axis = d.board.ptz.pan;
  const start = await d.ptz.queryPosition();
  const budget = (Math.abs(target - start.pan) / axis.maxSpeedDegS) * 1000 + 2000;
  const until = d.clock.now() + budget;
  for (;;) {
    const pos = await d.ptz.queryPosition();
    if (Math.abs(pos.pan - target) <= 0.5) return pos.pan;
    if (d.clock.now() > until) throw new CamdError('failed', `PTZ lens did not reach pan ${target}° (at ${pos.pan.toFixed(1)}°)`);
    await sleep(d.clock, 100);
  }
}

/** Board: a snapshot the PTZ ffmpeg wrote after the lens stopped at its position. */
async function freshSnapshot(d: SweepDeps, after: number, out: string): Promise<void> {
  const until = d.clock.now() + 5000;
  for (;;) {
    const st = await fs.stat(d.ptzSnapshot).catch(() => undefined);
    if (st && st.mtimeMs > after) {
      await fs.copyFile(d.ptzSnapshot, out);
      return;
    }
    if (d.clock.now() > until) throw new CamdError('failed', 'no fresh picture from the PTZ lens during the 360° sweep');
    await sleep(d.clock, 100);
  }
}

/**
 * 360° view: turn the PTZ lens to each position, take a picture there, stitch the pictures side
 * by side (ffmpeg hstack) into one JPEG, and turn the lens back where it was.
 */
export async function sweep360(d: SweepDeps, shots: number): Promise<{ file: string; positions: number[] }> {
  const { pan } = d.board.ptz;
  const home = (await d.ptz.queryPosition()).pan;
  const files: string[] = [];
  const positions: number[] = [];
  try {
    for (const [i, target] of sweepPositions(pan.minDeg, pan.maxDeg, shots).entries()) {
      await d.ptz.gotoPan(target);
      const at = await arrive(d, target);
      positions.push(Math.round(at * 100) / 100);
      const out = join(d.workDir, `shot-${i}.jpg`);
      if (d.sim) await d.procs.run({ name: 'view360.shot', args: simCropArgs(d.board, at, shots, out), timeoutMs: 20_000 });
      else await freshSnapshot(d, d.clock.now(), out);
      files.push(out);
    }
    const pano = join(d.workDir, 'panorama.jpg');
    await d.procs.run({ name: 'view360.stitch', args: stitchArgs(files, pano), timeoutMs: 30_000 });
    return { file: pano, positions };
  } finally {
    // Best effort: the picture (or the first error) matters more than the way back.
    await d.ptz.gotoPan(home).catch(() => undefined);
  }
}
