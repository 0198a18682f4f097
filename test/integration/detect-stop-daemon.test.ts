import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBoard } from '../../board/schema.js';
import { SIM_BOARD_FILE } from '../harness/boot.js';
import { startDaemon, waitFor, type DaemonProc } from '../harness/daemon.js';
import type { DetectionState } from '../../src/detect/state.js';
import { BUSY_CONFIG, busyBoard, detectorStopped } from './detect-stop-media.js';

/**
 * The report: 1 stop in 22 of the daemon logged "detection pipeline error: object detector
 * closed", then "terminate called after throwing an instance of 'Napi::Error'", exit code 134.
 * The host terminated its inference thread while `session.run()` was inside native code (see
 * src/detect/worker.ts). Here real daemons get SIGTERM while both lenses keep the model busy,
 * until enough of them were stopped with an inference in flight — which the daemon says in its
 * `object detector stopped` line (`inFlight`: requests the worker still had when the stop came,
 * finished and answered before the session was released).
 */
const WANTED = 3;
const MAX_DAEMONS = 12;

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

describe('SIGTERM while the object detector runs', () => {
  it(`real daemons stopped mid-inference exit 0 every time, without an abort (until ${WANTED} stops had a run in flight)`, async () => {
    const stops: { code: number | null; signal: string | null; inFlight: number; ms: number }[] = [];
    while (stops.filter((s) => s.inFlight > 0).length < WANTED && stops.length < MAX_DAEMONS) {
      const { dir, board } = busyDir();
      const d = (daemon = await startDaemon({ dir, board }));
      // The model is loaded and both lenses are being looked at.
      await waitFor(async () => {
        const r = await d.call('detection.get');
        const s = (r.ok ? r.result : undefined) as DetectionState | undefined;
        return s?.model.status === 'ready' && (s.lenses.wide?.inferences ?? 0) >= 2 && (s.lenses.ptz?.inferences ?? 0) >= 2;
      }, 30_000, 100);
      // Anywhere in the inference cycle.
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      d.proc.kill('SIGTERM');
      const exit = await d.exited;
      const out = d.output();
      expect(out).not.toContain('terminate called');
      expect(out).not.toContain('Napi::Error');
      // Requests in flight are answered by the worker, not failed by the stop.
      expect(out).not.toContain('object detector closed');
      const stopped = detectorStopped(out);
      expect(stopped, 'the daemon logs how its detector stopped').toBeDefined();
      stops.push({ ...exit, ...stopped! });
      expect(exit).toEqual({ code: 0, signal: null });
      daemon = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
    const hits = stops.filter((s) => s.inFlight > 0);
    console.log(`detect-stop-daemon: ${stops.length} SIGTERMs, ${hits.length} with an inference in flight (${hits.map((s) => s.inFlight).join(',')}), all exit 0; detector close ${stops.map((s) => s.ms).join(',')} ms`);
    expect(hits.length).toBeGreaterThanOrEqual(WANTED);
  }, 900_000);
});
