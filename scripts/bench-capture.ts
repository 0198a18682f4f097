/**
 * Capture benchmark (`npm run bench`, BENCH_ONLY=capture). On the sim board at its default
 * profile (768x432 footage, both lenses, default tap 352x198 gray + 640x360 RGB at 5 fps),
 * recording continuously to a directory card in 2 s segments:
 *  - CPU (% of one core) and RSS of each lens's ffmpeg (capture + tap + recording), from
 *    /proc/<pid>/stat and /proc/<pid>/status, and the daemon's own CPU for the tap;
 *  - frames lost at segment boundaries: every complete recorded segment's packets (ffprobe)
 *    against its duration x fps, and over the whole soak;
 *  - snapshot latency (command in → JPEG on the card);
 *  - time from sleep-off to the first tap frame of each lens.
 * The soak is 30 s by default, 10 min with BENCH_SOAK=1 (BENCH_SOAK_SECONDS overrides).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LENSES, loadBoard, type LensName } from '../board/schema.js';
import { captureServices } from '../src/services.js';
import { coreCommands } from '../src/supervisor/core-commands.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import type { RecordingEntry } from '../src/storage/recording-index.js';
import { clockTicks, procTicks, quantile, rssMb, round, sleep } from './bench-util.js';

const REPO = resolve(import.meta.dirname, '..');
const execFileP = promisify(execFile);
const TICK = clockTicks();
const pct = quantile;

/** Async on purpose: a blocked event loop stops the daemon reading the tap, and ffmpeg with it. */
async function packets(file: string): Promise<number> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-select_streams', 'v', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file]);
  return Number(stdout.trim().split('\n')[0]);
}

export async function benchCapture(): Promise<Record<string, number>> {
  const soakSeconds = Number(process.env.BENCH_SOAK_SECONDS ?? (process.env.BENCH_SOAK === '1' ? 600 : 30));
  const dir = mkdtempSync(join(tmpdir(), 'camd-bench-capture-'));
  const board = loadBoard(join(REPO, 'board/sim.json'));
  const sim = { ...board, audio: { speaker: { wavFile: join(dir, 'speaker.wav') }, microphone: { wavFile: join(dir, 'mic.wav') } } };
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'card'));
  const sup = new Supervisor({
    board: sim,
    boardFile: join(REPO, 'board/sim.json'),
    services: [coreCommands, ...captureServices],
    logDestination: null,
    logLevel: 'info',
    dataDir: join(dir, 'data'),
    runDir: join(dir, 'run'),
    cardMount: join(dir, 'card'),
  });
  const out: Record<string, number> = { soakSeconds };
  const exec = async (cmd: string, args: Record<string, unknown> = {}) => {
    const r = await sup.commands.execute(cmd, args, { source: 'local' });
    if (!r.ok && r.error.code !== 'confirmation_required') throw new Error(`${cmd}: ${r.error.message}`);
    return r;
  };
  const lastFrame = new Map<LensName, number>();
  try {
    await sup.start();
    sup.bus.on({ name: 'bench' }, 'capture.frame', (f) => void lastFrame.set(f.lens, performance.now()));
    await exec('config.set', { patch: { recording: { mode: 'continuous', segmentSeconds: 2 } } });
    const first = await exec('storage.initialise');
    const token = /confirm="([^"]+)"/.exec(first.ok ? '' : first.error.message)?.[1];
    await exec('storage.initialise', { confirm: token });
    // Let both pipelines settle (recording on) before measuring.
    await sleep(3000);

    // CPU and RSS over the soak, following ffmpeg across restarts.
    const ticks = new Map<LensName, number>(LENSES.map((l) => [l, 0]));
    const rss = new Map<LensName, number[]>(LENSES.map((l) => [l, []]));
    const seen = new Map<number, number>();
    const sample = (): void => {
      for (const lens of LENSES) {
        const pid = sup.state.get().children[`capture.${lens}`]?.pid;
        if (!pid) continue;
        const t = procTicks(pid);
        if (t === undefined) continue;
        ticks.set(lens, ticks.get(lens)! + (t - (seen.get(pid) ?? t)));
        seen.set(pid, t);
        const r = rssMb(pid);
        if (r !== undefined) rss.get(lens)!.push(r);
      }
    };
    sample();
    const nodeCpu0 = process.cpuUsage();
    const t0 = performance.now();
    const tap0 = LENSES.map((l) => sup.state.get().capture?.[l]?.tap ?? { frames: 0, delivered: 0, dropped: 0 });
    while (performance.now() - t0 < soakSeconds * 1000) {
      await sleep(1000);
      sample();
    }
    const wall = (performance.now() - t0) / 1000;
    const nodeCpu = process.cpuUsage(nodeCpu0);
    for (const [i, lens] of LENSES.entries()) {
      out[`${lens}.ffmpeg.cpuPercent`] = round((100 * ticks.get(lens)!) / TICK / wall);
      out[`${lens}.ffmpeg.rssMb.median`] = round(pct(rss.get(lens)!, 0.5));
      out[`${lens}.ffmpeg.rssMb.max`] = round(Math.max(...rss.get(lens)!));
      const tap = sup.state.get().capture?.[lens]?.tap;
      out[`${lens}.tap.fps`] = round(((tap?.delivered ?? 0) - tap0[i]!.delivered) / wall);
      out[`${lens}.tap.dropped`] = (tap?.dropped ?? 0) - tap0[i]!.dropped;
      out[`${lens}.restarts`] = sup.state.get().children[`capture.${lens}`]?.restarts ?? 0;
    }
    // The daemon process also runs the bench loop; it is idle apart from the tap and bookkeeping.
    out['daemon.cpuPercent'] = round((100 * (nodeCpu.user + nodeCpu.system)) / 1e6 / wall);
    out['daemon.rssMb'] = round(process.memoryUsage().rss / 1024 / 1024);

    // Frames at segment boundaries: each complete segment against its own duration, and the
    // whole run of consecutive segments against its span.
    for (const lens of LENSES) {
      const r = await exec('recordings.list', { lens, limit: 10_000 });
      const recs = (r.ok ? (r.result as { recordings: RecordingEntry[] }).recordings : []).filter((e) => !e.partial);
      const fps = board.video[lens].fps;
      // The first segment of a run starts wherever ffmpeg started: not a boundary.
      const body = recs.slice(1);
      let lost = 0;
      let recorded = 0;
      for (const e of body) {
        const n = await packets(join(dir, 'card', e.file));
        recorded += n;
        lost += Math.max(0, Math.round(((e.end - e.start) / 1000) * fps) - n);
      }
      const span = body.length ? (body.at(-1)!.end - body[0]!.start) / 1000 : 0;
      out[`${lens}.segments`] = body.length;
      out[`${lens}.framesLostAtBoundaries`] = lost;
      out[`${lens}.soak.framesExpected`] = Math.round(span * fps);
      out[`${lens}.soak.framesRecorded`] = recorded;
      out[`${lens}.soak.framesLost`] = Math.max(0, Math.round(span * fps) - recorded);
    }

    // Snapshot latency.
    const lat: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await exec('snapshot', { lens: i % 2 ? 'ptz' : 'wide' });
      lat.push(performance.now() - t);
      await sleep(100);
    }
    out['snapshot.latencyMs.median'] = round(pct(lat, 0.5), 2);
    out['snapshot.latencyMs.p95'] = round(pct(lat, 0.95), 2);

    // Sleep off → first frame, per lens.
    const wake: Record<LensName, number[]> = { wide: [], ptz: [] };
    for (let i = 0; i < 3; i++) {
      await exec('sleep.set', { on: true });
      await sleep(500);
      lastFrame.clear();
      const t = performance.now();
      await exec('sleep.set', { on: false });
      while (LENSES.some((l) => !lastFrame.has(l)) && performance.now() - t < 20_000) await sleep(5);
      for (const l of LENSES) wake[l].push((lastFrame.get(l) ?? NaN) - t);
    }
    for (const l of LENSES) out[`${l}.sleepOffToFirstFrameMs`] = round(pct(wake[l], 0.5), 0);
  } finally {
    await sup.shutdown('bench done');
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void benchCapture().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(40)} ${v}\n`);
    process.exit(0);
  });
}
