import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadBoard } from '../../board/schema.js';
import { call, type Reply } from '../../src/cli/client.js';
import { REPO, SIM_BOARD_FILE } from '../harness/boot.js';

/**
 * Many real daemons on one machine, for the fleet fault tests: the daemon compiled once (what a
 * camera runs, and ~40 % less memory per process than under tsx), each daemon with its own board
 * file (its own serial, so its own client id and topic subtree), data, run and card directories.
 * Plus what the tests measure from /proc: memory (PSS, RSS) and CPU ticks of a process.
 */
const run = promisify(execFile);

/** Where the compiled daemon goes: inside the repo so `node_modules` resolves, outside `dist/`. */
export const BUILD_DIR = join(REPO, 'node_modules', '.cache', 'camd-fleet');

/**
 * Compiles src/ with tsconfig.build.json into BUILD_DIR. Type errors do not stop tsc from
 * emitting; a tree that does not run fails in the tests that start it, with its own error.
 */
export async function buildDaemon(): Promise<string> {
  const main = join(BUILD_DIR, 'src', 'main.js');
  const res = await run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', BUILD_DIR], { cwd: REPO, maxBuffer: 64 << 20 }).then(
    () => undefined,
    (err: Error & { stdout?: string }) => err.stdout ?? err.message,
  );
  if (res) process.stdout.write(`tsc reported type errors (emitted anyway):\n${res.split('\n').slice(0, 10).join('\n')}\n`);
  if (!existsSync(main)) throw new Error(`build produced no ${main}`);
  return main;
}

export interface FleetDaemon {
  index: number;
  serial: string;
  dir: string;
  socket: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  call(cmd: string, args?: Record<string, unknown>): Promise<Reply>;
  log(): string;
}

export function serialOf(i: number): string {
  return `CAMFLEET${String(i).padStart(5, '0')}`;
}

/**
 * Writes the per-daemon files and starts it. `config` and `secrets` are written as the daemon's
 * config.json / secrets.json (0600). Resolves once the control socket answers `running`.
 */
export async function startFleetDaemon(opts: {
  main: string;
  root: string;
  index: number;
  config: Record<string, unknown>;
  secrets?: Record<string, unknown>;
  disable?: string[];
  logLevel?: string;
  bootTimeoutMs: number;
}): Promise<FleetDaemon> {
  const serial = serialOf(opts.index);
  const dir = join(opts.root, serial);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const base = loadBoard(SIM_BOARD_FILE);
  // Paths in a board file are relative to it: the resolved board (absolute paths) is written whole.
  const board = {
    ...base,
    identity: { source: 'inline', serial, verificationCode: 'FLEETX' },
    audio: { speaker: { wavFile: join(dir, 'speaker.wav') }, microphone: { wavFile: join(dir, 'microphone.wav') } },
  };
  const boardFile = join(dir, 'board.json');
  writeFileSync(boardFile, JSON.stringify(board));
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(opts.config));
  if (opts.secrets) writeFileSync(join(dir, 'data', 'secrets.json'), JSON.stringify(opts.secrets), { mode: 0o600 });
  const logFile = join(dir, 'daemon.log');
  const fd = openSync(logFile, 'a');
  const args = [opts.main, '--board', boardFile, '--data-dir', join(dir, 'data'), '--run-dir', join(dir, 'run'), '--card-dir', join(dir, 'card'), '--log-level', opts.logLevel ?? 'warn'];
  if (opts.disable?.length) args.push('--disable', opts.disable.join(','));
  const proc = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  started.add(proc);
  proc.once('exit', () => started.delete(proc));
  guard(opts.root, proc.pid!);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const socket = join(dir, 'run', 'camd.sock');
  const d: FleetDaemon = {
    index: opts.index,
    serial,
    dir,
    socket,
    proc,
    exited,
    call: (cmd, a = {}) => call(socket, cmd, a),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  const end = Date.now() + opts.bootTimeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`daemon ${serial} exited during boot (${proc.exitCode}):\n${d.log().slice(-3000)}`);
    if (existsSync(socket)) {
      const r = await d.call('status').catch(() => undefined);
      if (r?.ok && (r.result as { lifecycle?: string }).lifecycle === 'running') return d;
    }
    if (Date.now() > end) throw new Error(`daemon ${serial} not running within ${opts.bootTimeoutMs} ms:\n${d.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Every daemon process started here and not yet exited (for a cleanup after a failed boot). */
const started = new Set<ChildProcess>();
// A test worker that dies (timeout, crash) must not leave a hundred daemons behind.
process.once('exit', () => killStragglers());

/**
 * A watchdog per fleet root: a shell that outlives a test worker killed by a timeout (which runs
 * no cleanup at all) and then SIGKILLs the daemons listed in `<root>/pids` and removes `root`. Without it a killed
 * worker leaves its daemons running, reparented to init. releaseGuard() disarms it.
 */
const guards = new Map<string, { file: string; proc: ChildProcess }>();

function guard(root: string, pid: number): void {
  let g = guards.get(root);
  if (!g) {
    const file = join(root, 'pids');
    writeFileSync(file, '');
    // After the kill, the fleet's directory goes too (afterAll, which would remove it, never ran).
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; [ -s '${file}' ] && kill -9 $(cat '${file}') 2>/dev/null; sleep 1; rm -rf '${root}'; exit 0`;
    const proc = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    proc.unref();
    g = { file, proc };
    guards.set(root, g);
  }
  appendFileSync(g.file, `${pid}\n`);
}

/** After the daemons of `root` are stopped: the watchdog ends, its pid list is emptied. */
export function releaseGuard(root: string): void {
  const g = guards.get(root);
  if (!g) return;
  guards.delete(root);
  writeFileSync(g.file, '');
  g.proc.kill('SIGTERM');
}

/** SIGKILL for every daemon of this harness still running: the last resort of a test's cleanup. */
export function killStragglers(): number {
  let n = 0;
  for (const p of started) if (p.exitCode === null && p.signalCode === null && p.kill('SIGKILL')) n++;
  return n;
}

/** SIGTERM, then SIGKILL for a daemon still there after `graceMs`. */
export async function stopFleetDaemon(d: FleetDaemon, graceMs = 15_000): Promise<void> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  d.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
  if ((await Promise.race([d.exited, late])) === 'late') {
    d.proc.kill('SIGKILL');
    await d.exited;
  }
  clearTimeout(timer);
}

/** Proportional set size (shared pages divided among their users) and RSS of a process, KiB. */
export function memoryKb(pid: number): { pss: number; rss: number; privateDirty: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    return { pss: field('Pss'), rss: field('Rss'), privateDirty: field('Private_Dirty') };
  } catch {
    return undefined;
  }
}

/** MemAvailable from /proc/meminfo, KiB. */
export function memAvailableKb(): number {
  return Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN);
}

/** The pids whose command line contains `needle` (the broker by its config path). */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) out.push(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** A text histogram: one row per bin of `binMs`, a bar of `#` scaled to `width`. */
export function histogram(values: readonly number[], binMs: number, width = 50): string {
  if (values.length === 0) return '(no values)';
  const bins = new Map<number, number>();
  for (const v of values) bins.set(Math.floor(v / binMs), (bins.get(Math.floor(v / binMs)) ?? 0) + 1);
  const first = Math.min(...bins.keys());
  const last = Math.max(...bins.keys());
  const top = Math.max(...bins.values());
  const rows: string[] = [];
  for (let b = first; b <= last; b++) {
    const n = bins.get(b) ?? 0;
    const label = `${((b * binMs) / 1000).toFixed(0).padStart(4)}–${(((b + 1) * binMs) / 1000).toFixed(0).padEnd(4)} s`;
    rows.push(`${label} ${String(n).padStart(4)} ${'#'.repeat(Math.round((n / top) * width))}`);
  }
  return rows.join('\n');
}
