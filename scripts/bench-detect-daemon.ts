/**
 * Detection in the daemon (`npm run bench`, BENCH_ONLY=detect-daemon). The whole supervisor
 * in-process on the sim board: real capture (ffmpeg -re, default tap 352x198 gray + 640x360 RGB
 * at 5 fps) → detection service → camera.event.
 *  - Detection-to-event latency: frame ts (when the tap frame reached the daemon) → the
 *    camera.event on the bus, for every start/update (snapshot included in starts), p50/p99, on
 *    the sim board's footage (person on the wide lens, cars on the PTZ lens), all three
 *    algorithms on. BENCH_DETECT_SECONDS (default 60).
 *  - CPU on a static scene (a still frame of the person clip, looped, both lenses): capture
 *    alone vs capture + detection, as % of one core (ffmpeg children from /proc, the daemon
 *    process — inference worker thread included — from process.cpuUsage()). Gating should keep
 *    the difference near zero: no inference on a static scene.
 * Run alone: `node --import tsx scripts/bench-detect-daemon.ts`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LENSES, loadBoard, type Board } from '../board/schema.js';
import { captureServices, detectionService } from '../src/services.js';
import type { CameraEvent } from '../src/state/bus.js';
import { coreCommands } from '../src/supervisor/core-commands.js';
import type { ServiceFactory } from '../src/supervisor/service.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { clockTicks, procTicks, quantile, round, sleep } from './bench-util.js';

const REPO = resolve(import.meta.dirname, '..');
const MEDIA = resolve(REPO, '../shared/media');
const TICK = clockTicks();
const ALL_ON = { human: { enabled: true }, vehicle: { enabled: true }, change: { enabled: true } };


async function withDaemon<T>(board: Board, services: ServiceFactory[], config: Record<string, unknown>, fn: (sup: Supervisor) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-bench-detd-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const sup = new Supervisor({
    board: { ...board, audio: { speaker: { wavFile: join(dir, 'speaker.wav') }, microphone: { wavFile: join(dir, 'mic.wav') } } },
    boardFile: join(REPO, 'board/sim.json'),
    services,
    logDestination: null,
    logLevel: 'info',
    dataDir: join(dir, 'data'),
    runDir: join(dir, 'run'),
    cardMount: join(dir, 'card'),
  });
  try {
    await sup.start();
    const r = await sup.commands.execute('config.set', { patch: config }, { source: 'local' });
    if (!r.ok) throw new Error(`config.set: ${r.error.message}`);
    return await fn(sup);
  } finally {
    await sup.shutdown('bench done');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Frame ts → camera.event emitted, for every detection start/update. */
async function latency(board: Board, seconds: number): Promise<Record<string, number>> {
  return withDaemon(board, [coreCommands, ...captureServices, detectionService], { detection: ALL_ON }, async (sup) => {
    const all: number[] = [];
    const starts: number[] = [];
    const counts: Record<string, number> = {};
    const pictures = { with: 0, fromFrame: 0, without: 0 };
    sup.bus.on({ name: 'bench' }, 'camera.event', (e: CameraEvent) => {
      if (e.kind !== 'detection') return;
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      if (e.type.endsWith('.end')) return;
      const ms = Date.now() - e.ts;
      all.push(ms);
      if (!e.type.endsWith('.start')) return;
      starts.push(ms);
      // Object starts carry the picture of their confirming frame; image-change starts a still.
      const snap = e.data?.snapshot as { source?: string } | undefined;
      if (snap && !e.data?.snapshotError) {
        pictures.with++;
        if (snap.source === 'frame') pictures.fromFrame++;
      } else pictures.without++;
    });
    await sleep(seconds * 1000);
    const st = sup.state.get().detection;
    const out: Record<string, number> = {
      event_latency_p50_ms: quantile(all, 0.5),
      event_latency_p99_ms: quantile(all, 0.99),
      event_latency_max_ms: all.length ? Math.max(...all) : NaN,
      event_latency_samples: all.length,
      start_latency_p50_ms: quantile(starts, 0.5),
      start_samples: starts.length,
      starts_with_picture_pct: starts.length ? round((100 * pictures.with) / starts.length, 1) : NaN,
      starts_picture_from_frame: pictures.fromFrame,
      starts_without_picture: pictures.without,
    };
    for (const lens of LENSES) {
      const l = st?.lenses[lens];
      if (!l) continue;
      out[`${lens}_frames`] = l.framesIn;
      out[`${lens}_inferences`] = l.inferences;
      out[`${lens}_dropped_rate`] = l.dropped.rate;
      out[`${lens}_dropped_busy`] = l.dropped.busy;
    }
    for (const [type, n] of Object.entries(counts)) out[`events_${type.replace('.', '_')}`] = n;
    return out;
  });
}

/** % of one core over `seconds`: both lenses' ffmpeg, and this process (daemon + inference worker). */
async function cpu(board: Board, services: ServiceFactory[], seconds: number): Promise<{ ffmpeg: number; daemon: number; inferences: number }> {
  return withDaemon(board, services, { detection: ALL_ON }, async (sup) => {
    await sleep(4000);
    const seen = new Map<number, number>();
    let ticks = 0;
    const sample = (): void => {
      for (const lens of LENSES) {
        const pid = sup.state.get().children[`capture.${lens}`]?.pid;
        const t = pid ? procTicks(pid) : undefined;
        if (pid === undefined || t === undefined) continue;
        ticks += t - (seen.get(pid) ?? t);
        seen.set(pid, t);
      }
    };
    sample();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(1000);
      sample();
    }
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const det = sup.state.get().detection;
    const inferences = LENSES.reduce((n, l) => n + (det?.lenses[l]?.inferences ?? 0), 0);
    return { ffmpeg: (100 * ticks) / TICK / wall, daemon: (100 * (c.user + c.system)) / 1e6 / wall, inferences };
  });
}

export async function benchDetectDaemon(): Promise<Record<string, number>> {
  const seconds = Number(process.env.BENCH_DETECT_SECONDS ?? 60);
  const board = loadBoard(join(REPO, 'board/sim.json'));
  const r: Record<string, number> = { seconds };
  Object.assign(r, await latency(board, seconds));

  const dir = mkdtempSync(join(tmpdir(), 'camd-bench-static-'));
  try {
    const still = join(dir, 'still.png');
    const clip = join(dir, 'static.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-ss', '1', '-i', join(MEDIA, 'one-by-one-person-detection.mp4'), '-frames:v', '1', still]);
    execFileSync('ffmpeg', ['-v', 'error', '-loop', '1', '-i', still, '-t', '10', '-vf', 'fps=10', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '20', '-pix_fmt', 'yuv420p', clip]);
    const lens = (l: Board['video']['wide']): Board['video']['wide'] => ({ ...l, source: { kind: 'file', path: clip, loop: true }, fps: 10 });
    const staticBoard: Board = { ...board, video: { wide: lens(board.video.wide), ptz: lens(board.video.ptz) } };
    const window = Math.max(10, Math.round(seconds / 3));
    const alone = await cpu(staticBoard, [coreCommands, ...captureServices], window);
    const withDet = await cpu(staticBoard, [coreCommands, ...captureServices, detectionService], window);
    r.static_seconds = window;
    r.static_capture_only_ffmpeg_cpu_pct = round(alone.ffmpeg);
    r.static_capture_only_daemon_cpu_pct = round(alone.daemon);
    r.static_with_detection_ffmpeg_cpu_pct = round(withDet.ffmpeg);
    r.static_with_detection_daemon_cpu_pct = round(withDet.daemon);
    r.static_detection_added_cpu_pct = round(withDet.ffmpeg + withDet.daemon - alone.ffmpeg - alone.daemon);
    r.static_inferences = withDet.inferences;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log('\ndetection daemon benchmark');
  for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(44)} ${Number.isInteger(v) ? v : v.toFixed(1)}`);
  return r;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchDetectDaemon()
    .then(() => process.exit(0))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
