import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, type Reply } from '../../src/cli/client.js';
import { NO_BROKER, REPO, SIM_BOARD_FILE } from './boot.js';

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
export async function startDaemon(opts: { dir?: string; board?: string; extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<DaemonProc> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'camd-proc-'));
  const socket = join(dir, 'run', 'camd.sock');
  // Same isolation as bootSim; a test that brings its own config (a broker of its own) keeps it.
  const config = join(dir, 'data', 'config.json');
  if (!existsSync(config)) {
    mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
    writeFileSync(config, JSON.stringify(NO_BROKER));
  }
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'src/main.ts'), '--board', opts.board ?? SIM_BOARD_FILE, '--data-dir', join(dir, 'data'), '--run-dir', join(dir, 'run'), '--card-dir', join(dir, 'card'), ...(opts.extraArgs ?? [])],
    { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const d: DaemonProc = { proc, dir, socket, output: () => out, call: (cmd, args = {}) => call(socket, cmd, args), exited };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited early (${proc.exitCode}):\n${out}`);
    if (!existsSync(socket)) return false;
    const r = await d.call('status').catch(() => undefined);
    return !!r && r.ok && (r.result as { lifecycle?: string }).lifecycle === 'running';
  }, 20_000);
  return d;
}

/** Polls real time (for a real child process), bounded; never used for timer-driven behaviour. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
