import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Board } from '../../board/schema.js';
import { sleep, type Clock } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import type { Ports } from '../supervisor/service.js';
import type { OnceRunner } from '../supervisor/runner.js';
import type { Progress } from '../domain/progress.js';

declare module '../state/store.js' {
  interface CamState {
    /** The 360° view being made, while it runs (absent otherwise). */
    view360?: Progress;
  }
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
  /** The PTZ service's port (ctx.ports.head): the only way to the motor, arbitrated with patrol, follow and manual control. */
  head: Ports['head'];
  board: Board;
  clock: Clock;
  procs: OnceRunner;
  workDir: string;
  /** Board: the PTZ lens's latest snapshot file (refreshed by its capture ffmpeg). */
  ptzSnapshot: string;
  sim: boolean;
  /** Told each phase as it begins: `shot` k of n (turning there, then the picture), `stitching`. */
  onPhase?: (phase: string, step?: number, steps?: number) => void;
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
 * 360° view: the PTZ service turns the lens to each position (ptz/sweep.ts, under its head
 * arbiter, so it never fights patrol or follow) and calls back here to take the picture there;
 * the pictures are stitched side by side (ffmpeg hstack) into one JPEG. The service turns the
 * lens back where it was.
 */
export async function sweep360(d: SweepDeps, shots: number): Promise<{ file: string; positions: number[] }> {
  if (!d.head) throw new CamdError('unavailable', 'the PTZ head is not available (the PTZ service is not running or its head did not open)');
  const files: string[] = [];
  d.onPhase?.('shot', 1, shots);
  const { positions } = await d.head.sweep(shots, async (i, at) => {
    const out = join(d.workDir, `shot-${i}.jpg`);
    if (d.sim) await d.procs.run({ name: 'view360.shot', args: simCropArgs(d.board, at, shots, out), timeoutMs: 20_000 });
    else await freshSnapshot(d, d.clock.now(), out);
    files.push(out);
    // The head turns to the next position after this returns: that time belongs to the next shot.
    if (i + 1 < shots) d.onPhase?.('shot', i + 2, shots);
  });
  d.onPhase?.('stitching');
  const pano = join(d.workDir, 'panorama.jpg');
  await d.procs.run({ name: 'view360.stitch', args: stitchArgs(files, pano), timeoutMs: 30_000 });
  return { file: pano, positions };
}
