import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBoard } from '../../board/schema.js';
import { SIM_BOARD_FILE } from '../harness/boot.js';
import { startDaemon, waitFor, type DaemonProc } from '../harness/daemon.js';
import type { DetectionState } from '../../src/detect/state.js';
import { BUSY_CONFIG, busyBoard, detectorStopped, detectorStops } from './detect-stop-media.js';

/**
 * The report: 1 stop in 22 of the daemon logged "detection pipeline error: object detector
 * closed", then "terminate called after throwing an instance of 'Napi::Error'", exit code 134.
 * The host terminated its inference thread while `session.run()` was inside native code (see
 * src/detect/worker.ts). Here real daemons are stopped while both lenses keep the model busy:
 * each daemon is restarted in place (`reboot`: the sim board's restart stops every service, the
 * detector included, in the same process) STOPS_PER_DAEMON − 1 times, put to sleep once with a
 * run in flight, then sent SIGTERM — DAEMONS × STOPS_PER_DAEMON stops in all (50 by default;
 * CAMD_STOP_DAEMONS for more or fewer daemons). Every stop logs `object detector stopped` with
 * `inFlight` (requests the worker still had, finished and answered before the session was
 * released); an abort anywhere would end the process with 134 instead of 0.
 */
const DAEMONS = Math.max(1, Number(process.env.CAMD_STOP_DAEMONS) || 10);
const STOPS_PER_DAEMON = 5;
/** Stops that must have had a run in flight (most do: the model is kept busy on both lenses). */
const WANTED_IN_FLIGHT = 3;

let daemon: DaemonProc | undefined;
const dirs: string[] = [];
afterEach(async () => {
  if (daemon && daemon.proc.exitCode === null && daemon.proc.signalCode === null) {
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
  }
  daemon = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function busyDir(): { dir: string; board: string } {
  const dir = mkdtempSync(join(tmpdir(), 'camd-stop-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(BUSY_CONFIG));
  // The loaded sim board has absolute paths, so it can be written anywhere.
  const board = join(dir, 'board.json');
  writeFileSync(board, JSON.stringify(busyBoard(dir)(loadBoard(SIM_BOARD_FILE))));
  return { dir, board };
}

/** Until the model is loaded and both lenses have been looked at a few times since (re)start. */
async function busy(d: DaemonProc): Promise<void> {
  await waitFor(async () => {
    const r = await d.call('detection.get');
    const s = (r.ok ? r.result : undefined) as DetectionState | undefined;
    return s?.model.status === 'ready' && (s.lenses.wide?.inferences ?? 0) >= 2 && (s.lenses.ptz?.inferences ?? 0) >= 2;
  }, 30_000, 100);
}

/** Anywhere in the inference cycle. */
const anyMoment = (): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * 300));

describe('stopping the daemon while the object detector runs', () => {
  it(`${DAEMONS * STOPS_PER_DAEMON} stops (in-place restarts, then SIGTERM) mid-inference: every exit is 0, nothing aborts; sleep mid-inference fails no run`, async () => {
    const stops: { inFlight: number; ms: number }[] = [];
    const exits: { code: number | null; signal: string | null }[] = [];
    for (let n = 0; n < DAEMONS; n++) {
      const { dir, board } = busyDir();
      const d = (daemon = await startDaemon({ dir, board }));
      for (let k = 0; k < STOPS_PER_DAEMON - 1; k++) {
        await busy(d);
        if (k === 1) {
          // Sleep with a run in flight: the lanes stop, the run's answer is dropped, nothing fails.
          await anyMoment();
          expect(await d.call('sleep.set', { on: true })).toMatchObject({ ok: true });
          expect(await d.call('sleep.set', { on: false })).toMatchObject({ ok: true });
          await busy(d);
        }
        await anyMoment();
        const before = d.output().length;
        expect(await d.call('reboot')).toMatchObject({ ok: true });
        // Restarted in place: the old supervisor stopped (its detector said how), a new one runs.
        await waitFor(async () => detectorStopped(d.output().slice(before)) !== undefined, 30_000, 100);
        await waitFor(async () => {
          const r = await d.call('status').catch(() => undefined);
          return !!r && r.ok && (r.result as { lifecycle?: string }).lifecycle === 'running';
        }, 30_000, 100);
      }
      await busy(d);
      await anyMoment();
      d.proc.kill('SIGTERM');
      const exit = await d.exited;
      const out = d.output();
      expect(out).not.toContain('terminate called');
      expect(out).not.toContain('Napi::Error');
      // Requests in flight are answered by the worker, not failed by the stop.
      expect(out).not.toContain('object detector closed');
      expect(out).not.toContain('detection pipeline error');
      const all = detectorStops(out);
      expect(all, 'one `object detector stopped` line per stop').toHaveLength(STOPS_PER_DAEMON);
      stops.push(...all);
      exits.push(exit);
      expect(exit).toEqual({ code: 0, signal: null });
      daemon = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
    const hits = stops.filter((s) => s.inFlight > 0);
    console.log(`detect-stop-daemon: ${stops.length} stops in ${exits.length} daemons, ${hits.length} with an inference in flight; exits ${exits.map((e) => e.code).join(',')}; detector close p50 ${median(stops.map((s) => s.ms))} ms, max ${Math.max(...stops.map((s) => s.ms))} ms`);
    expect(stops).toHaveLength(DAEMONS * STOPS_PER_DAEMON);
    expect(hits.length).toBeGreaterThanOrEqual(WANTED_IN_FLIGHT);
  }, DAEMONS * 240_000);
});

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
