/**
 * A stand-in for systemd running camd.service on the sim and in tests: before every start it runs
 * the boot guard (ExecStartPre=-…/camd-boot-guard), then starts `<base>/current/bin/camd` (ExecStart,
 * the link resolved at that moment), waits until `readyCheck` says the start is ready (READY=1),
 * kills the start with SIGKILL if it is not ready within `startTimeoutMs` (TimeoutStartSec: a hang
 * before ready is a failed start), and restarts after a failure (Restart=on-failure, RestartSec),
 * until `maxStarts` or `stop()` (SIGTERM, then SIGKILL after a grace: KillMode=mixed).
 *
 * Only the parts of systemd the boot guard's contract depends on; no cgroups, watchdog or
 * start-rate limit. Each start runs in its own process group, killed whole like a cgroup.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ControlClient } from '../../src/cli/client.js';
import { REPO } from './boot.js';
import { pause, waitUntil } from './wait.js';

export const BOOT_GUARD = join(REPO, 'scripts/release/board/camd-boot-guard');

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by the runner because it was not ready within startTimeoutMs. */
  timedOut: boolean;
  /** Could not even be executed (ENOENT, EACCES…: systemd's 203/EXEC). */
  execError?: string;
}

export interface ServiceStart {
  /** 1-based. */
  n: number;
  /** The release `current` named when this start was spawned (readlink at spawn), if any. */
  release: string | undefined;
  pid: number | undefined;
  /** performance.now() at spawn / when readyCheck first said yes. */
  spawnedAt: number;
  readyAt?: number;
  /** What the boot guard said before this start. */
  guard: { code: number | null; stderr: string };
  exit?: ServiceExit;
  /** Resolves when this start's process is gone. */
  exited: Promise<ServiceExit>;
  /** What it wrote on stdout and stderr (the journal). */
  output: () => string;
}

export interface ServiceOptions {
  /** The release tree (`<base>/current`, `<base>/boot`…). */
  base: string;
  /** Arguments for bin/camd. */
  args?: string[];
  /** Added to process.env for bin/camd. */
  env?: NodeJS.ProcessEnv;
  /** TimeoutStartSec. */
  startTimeoutMs: number;
  /** READY=1: polled every `readyEveryMs` until true. */
  readyCheck: (start: ServiceStart) => boolean | Promise<boolean>;
  readyEveryMs?: number;
  /** RestartSec (the unit: 2 s). Default 100 ms. */
  restartSec?: number;
  /** Stop after this many starts (the last one runs until it exits or stop()). Default unbounded. */
  maxStarts?: number;
  /** RestartPreventExitStatus (the unit: 78). */
  restartPreventExitStatus?: number[];
  /** The shell that runs the guard (`sh`, `dash`). */
  shell?: string;
  /** Called right after each spawn, and when a start became ready. */
  onStart?: (start: ServiceStart) => void;
  onReady?: (start: ServiceStart) => void;
  /** TimeoutStopSec for stop(). Default 5 s. */
  stopTimeoutMs?: number;
}

export interface ServiceRunner {
  readonly starts: readonly ServiceStart[];
  /** The start that runs now, if any. */
  current(): ServiceStart | undefined;
  /** Every finished start's exit, in order. */
  exits(): ServiceExit[];
  /** Resolves with the first start (already made or to come) that satisfies `pred`. */
  waitForStart(pred: (s: ServiceStart) => boolean, what: string, idleMs?: number): Promise<ServiceStart>;
  /** SIGTERM to the running start (SIGKILL to its group after stopTimeoutMs); no more restarts. */
  stop(): Promise<void>;
  /** Resolves when the loop ended (maxStarts reached and exited, a clean exit, or stop()). */
  done: Promise<void>;
}

/** `p`, or `fallback` once `ms` passed without an answer. */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<T>((r) => (t = setTimeout(() => r(fallback), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

/**
 * A readyCheck for the real daemon: its control socket answers `status` with lifecycle "running"
 * (what READY=1 means for camd). False, never a throw, while it cannot answer yet.
 */
export async function daemonRunning(socket: string, timeoutMs = 2_000): Promise<boolean> {
  if (!existsSync(socket)) return false;
  try {
    const c = await ControlClient.connect(socket, timeoutMs);
    try {
      const r = await within(c.request('status', {}), timeoutMs, undefined);
      return !!r && r.ok && (r.result as { lifecycle?: string }).lifecycle === 'running';
    } finally {
      c.close();
    }
  } catch {
    return false;
  }
}

/** SIGTERM & co. are a clean stop for Restart=on-failure; anything else (SIGKILL, SIGSEGV…) is a failure. */
const CLEAN_SIGNALS: ReadonlySet<string> = new Set(['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE']);

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function runService(opts: ServiceOptions): ServiceRunner {
  const restartSec = opts.restartSec ?? 100;
  const prevent = new Set(opts.restartPreventExitStatus ?? [78]);
  const starts: ServiceStart[] = [];
  let stopping = false;
  let running: ServiceStart | undefined;

  const linked = (): string | undefined => {
    try {
      return basename(readlinkSync(join(opts.base, 'current')));
    } catch {
      return undefined;
    }
  };

  const startOnce = async (n: number): Promise<ServiceExit> => {
    // ExecStartPre runs to completion before ExecStart; its failure does not stop the start ("-").
    const g = spawnSync(opts.shell ?? 'sh', [BOOT_GUARD, '--base', opts.base], { encoding: 'utf8' });
    const guard = { code: g.status, stderr: g.stderr };
    const release = linked();
    const cur = join(opts.base, 'current');
    // WorkingDirectory=-/opt/camd/current: the release's directory, and a missing one is not fatal.
    const proc = spawn(join(cur, 'bin', 'camd'), opts.args ?? [], {
      cwd: existsSync(cur) ? cur : opts.base,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let resolveExit!: (e: ServiceExit) => void;
    const exited = new Promise<ServiceExit>((r) => (resolveExit = r));
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const s: ServiceStart = { n, release, pid: proc.pid, spawnedAt: performance.now(), guard, exited, output: () => out };
    let timedOut = false;
    let execError: string | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (s.exit) return;
      // The main process is gone: whatever it left in its group goes too (systemd empties the cgroup).
      killGroup(proc.pid, 'SIGKILL');
      s.exit = { code, signal, timedOut, ...(execError ? { execError } : {}) };
      resolveExit(s.exit);
    };
    proc.once('exit', (code, signal) => finish(code, signal));
    proc.once('error', (err: NodeJS.ErrnoException) => {
      execError = err.code ?? err.message;
      // A spawn that failed emits 'error' and no 'exit' (systemd: status 203/EXEC).
      if (proc.pid === undefined) finish(203, null);
    });
    starts.push(s);
    running = s;
    opts.onStart?.(s);

    // Ready within the start timeout, or killed.
    const deadline = s.spawnedAt + opts.startTimeoutMs;
    while (!s.exit && !stopping) {
      // A check that never answers (a daemon that accepts and hangs) must not outlast the timeout.
      const left = Math.max(0, deadline - performance.now());
      const ready = await within(Promise.resolve(opts.readyCheck(s)), left, false);
      if (s.exit) break;
      if (ready) {
        s.readyAt = performance.now();
        opts.onReady?.(s);
        break;
      }
      if (performance.now() > deadline) {
        timedOut = true;
        killGroup(proc.pid, 'SIGKILL');
        break;
      }
      await pause(opts.readyEveryMs ?? 20);
    }
    const exit = await exited;
    running = undefined;
    return exit;
  };

  const done = (async () => {
    for (let n = 1; !stopping && (opts.maxStarts === undefined || n <= opts.maxStarts); n++) {
      const e = await startOnce(n);
      const clean = e.code === 0 || (e.signal !== null && CLEAN_SIGNALS.has(e.signal) && !e.timedOut);
      if (stopping || clean || (e.code !== null && prevent.has(e.code))) break;
      await pause(restartSec);
    }
  })();

  return {
    starts,
    current: () => running,
    exits: () => starts.flatMap((s) => (s.exit ? [s.exit] : [])),
    waitForStart: (pred, what, idleMs = 10_000) => waitUntil(() => starts.find(pred), what, idleMs, 20),
    async stop() {
      stopping = true;
      const s = running;
      if (s?.pid !== undefined && !s.exit) {
        try {
          process.kill(s.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
        const t = setTimeout(() => killGroup(s.pid, 'SIGKILL'), opts.stopTimeoutMs ?? 5_000);
        await s.exited;
        clearTimeout(t);
      }
      killGroup(s?.pid, 'SIGKILL'); // leftovers of the group (KillMode=mixed)
      await done;
    },
    done,
  };
}
