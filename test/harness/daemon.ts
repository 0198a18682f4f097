import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient, type Reply } from '../../src/cli/client.js';
import { NO_BROKER, REPO, SIM_BOARD_FILE } from './boot.js';
import { patience, waitUntil } from './wait.js';

export interface DaemonProc {
  proc: ChildProcess;
  dir: string;
  socket: string;
  output: () => string;
  call(cmd: string, args?: Record<string, unknown>): Promise<Reply>;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the real daemon as a separate process (tsx), for SIGTERM / kill -9 / camctl tests. */
export async function startDaemon(
  opts: { dir?: string; board?: string; extraArgs?: string[]; env?: NodeJS.ProcessEnv; /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the daemon's). */ netns?: string } = {},
): Promise<DaemonProc> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'camd-proc-'));
  const socket = join(dir, 'run', 'camd.sock');
  // Same isolation as bootSim; a test that brings its own config (a broker of its own) keeps it.
  const config = join(dir, 'data', 'config.json');
  if (!existsSync(config)) {
    mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
    writeFileSync(config, JSON.stringify(NO_BROKER));
  }
  const argv = [process.execPath, '--import', 'tsx', join(REPO, 'src/main.ts'), '--board', opts.board ?? SIM_BOARD_FILE, '--data-dir', join(dir, 'data'), '--run-dir', join(dir, 'run'), '--card-dir', join(dir, 'card'), ...(opts.extraArgs ?? [])];
  const [cmd, ...args] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv;
  const proc = spawn(cmd!, args, { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const d: DaemonProc = { proc, dir, socket, output: () => out, call: (cmd, args = {}) => callPatiently(socket, cmd, args), exited };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited early (${proc.exitCode}):\n${out}`);
    if (!existsSync(socket)) return false;
    const r = await d.call('status').catch(() => undefined);
    return !!r && r.ok && (r.result as { lifecycle?: string }).lifecycle === 'running';
  }, 20_000);
  return d;
}

/**
 * Polls real time (for a real child process), bounded; never used for timer-driven behaviour.
 * `timeoutMs` is what an idle machine needs: the real deadline is `patience(timeoutMs)` (wait.ts).
 */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  await waitUntil(async () => (await check()) || undefined, 'condition', timeoutMs, everyMs);
}

/** One control-socket request, with a connect timeout a busy machine cannot run out of. */
async function callPatiently(socket: string, cmd: string, args: Record<string, unknown>): Promise<Reply> {
  const c = await ControlClient.connect(socket, patience(5_000));
  try {
    return await c.request(cmd, args);
  } finally {
    c.close();
  }
}
