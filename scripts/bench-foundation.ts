import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadBoard } from '../board/schema.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { defaultServices } from '../src/services.js';
import { median, rssMb } from './bench-util.js';

const REPO = resolve(import.meta.dirname, '..');


/** Spawns the compiled daemon and times spawn → "camd running" log line; then samples idle RSS. */
async function bootOnce(idleMs: number, disable: string[] = []): Promise<{ bootMs: number; rssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-bench-'));
  const t0 = performance.now();
  const proc = spawn(process.execPath, [join(REPO, 'dist/src/main.js'), '--board', join(REPO, 'board/sim.json'), '--data-dir', join(dir, 'd'), '--run-dir', join(dir, 'r'), '--card-dir', join(dir, 'c'), ...(disable.length ? ['--disable', disable.join(',')] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const bootMs = await new Promise<number>((res, rej) => {
      let buf = '';
      proc.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('"msg":"camd running"')) res(performance.now() - t0);
      });
      proc.once('exit', (c) => rej(new Error(`daemon exited ${c}`)));
    });
    await new Promise((r) => setTimeout(r, idleMs));
    return { bootMs, rssMb: rssMb(proc.pid!) ?? NaN };
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Real timers, real time: how far the LED's slow blink drifts from the board's period. */
async function blinkError(seconds: number): Promise<{ periodErrMs: number; maxEdgeErrMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-bench-led-'));
  const board = loadBoard(join(REPO, 'board/sim.json'));
  const sup = new Supervisor({ board, boardFile: 'board/sim.json', services: defaultServices, logDestination: null, dataDir: join(dir, 'd'), runDir: join(dir, 'r'), cardMount: join(dir, 'c') });
  await sup.start();
  const from = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const to = Date.now();
  const tl = sup.hardware.timeline!;
  const rises = tl.edges('ledBlue', from, to).filter((e) => e.value === 1).map((e) => e.t);
  await sup.shutdown('bench');
  rmSync(dir, { recursive: true, force: true });
  const periods = rises.slice(1).map((t, i) => t - rises[i]!);
  const period = board.led.slowPeriodMs;
  const first = rises[0] ?? from;
  const maxEdgeErrMs = Math.max(...rises.map((t, i) => Math.abs(t - (first + i * period))));
  return { periodErrMs: Math.abs(median(periods) - period), maxEdgeErrMs };
}

export async function benchFoundation(): Promise<Record<string, number>> {
  if (!existsSync(join(REPO, 'dist/src/main.js'))) throw new Error('run `npm run build` first (bench times the compiled daemon)');
  const runs: { bootMs: number; rssMb: number }[] = [];
  for (let i = 0; i < 3; i++) runs.push(await bootOnce(i === 2 ? 5000 : 500));
  // The foundation alone (supervisor, control, LED, reset, cloud, network, health, alarm, PTZ),
  // then without the ONNX worker only: ONNX Runtime and its session cost ~50 MB by themselves.
  const foundation = await bootOnce(5000, ['detection', 'capture', 'storage', 'live']);
  const noDetect = await bootOnce(5000, ['detection']);
  const led = await blinkError(10);
  return {
    'foundation.boot_to_ready_ms.median': Math.round(median(runs.map((r) => r.bootMs))),
    'foundation.idle_rss_mb.all_services': Math.round(runs[2]!.rssMb * 10) / 10,
    'foundation.idle_rss_mb.without_detection': Math.round(noDetect.rssMb * 10) / 10,
    'foundation.idle_rss_mb.foundation_services': Math.round(foundation.rssMb * 10) / 10,
    'foundation.led_period_error_ms': led.periodErrMs,
    'foundation.led_max_edge_drift_ms': led.maxEdgeErrMs,
  };
}
