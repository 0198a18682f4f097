import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { backoffDelay, type Clock, type TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { FFMPEG } from '../core/ffmpeg.js';
import type { ChildHealth, StateStore } from '../state/store.js';

export interface ChildSpec {
  /** Unique name; the health appears under state.children[name]. */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** `pipe` hands stdout to onSpawn (frame taps); default ignore. */
  stdout?: 'pipe' | 'ignore';
  stdin?: 'pipe' | 'ignore';
  backoff?: { baseMs: number; maxMs: number };
  /** A run that lasted this long resets the backoff. */
  stableAfterMs?: number;
  /** This many failures in a row → status `failed` (still retried at the max backoff). */
  failAfter?: number;
  /** Restart the child when kick() has not been called for this long (a stalled ffmpeg). */
  stallTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL on stop. */
  killTimeoutMs?: number;
  onSpawn?(child: ChildProcess): void;
  onExit?(info: { code: number | null; signal: NodeJS.Signals | null; restarting: boolean }): void;
  /** Called once when the consecutive failures reach failAfter, and with false when it recovers. */
  onFailedChange?(failed: boolean): void;
}

/**
 * The daemon's one process runner, in two modes that follow the same rules (stderr to the log,
 * SIGTERM then SIGKILL on stop, every running child listed in `state.children`):
 * - supervised (ChildRunner, `ctx.spawnChild`): one child for the daemon's lifetime, restarted
 *   with backoff, its entry kept (stopped / failed) after it ends;
 * - run-once (OnceRunner): a child that runs to its end (an encode, a stitch, a live push, nmcli,
 *   `ip`, the card format), with a timeout, bounded captured output and a result, listed only while
 *   it runs.
 */

/**
 * Runs one child process for the daemon's lifetime: stderr lines go to the log, an exit or stall
 * restarts it with capped exponential backoff, and its health is always in the state store.
 */
export class ChildRunner {
  private child: ChildProcess | undefined;
  private stopping = false;
  private running = false;
  private attempt = 0;
  private restarts = 0;
  private retryTimer: TimerHandle | undefined;
  private stallTimer: TimerHandle | undefined;
  private startedAt = 0;
  private failed = false;
  private exitWaiters: (() => void)[] = [];

  constructor(
    readonly spec: ChildSpec,
    private readonly deps: { clock: Clock; log: Logger; state: StateStore },
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get process(): ChildProcess | undefined {
    return this.child;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.spawnNow();
  }

  /** Progress seen (a frame arrived): re-arms the stall watchdog. */
  kick(): void {
    if (!this.spec.stallTimeoutMs || !this.child) return;
    this.deps.clock.clearTimeout(this.stallTimer);
    this.stallTimer = this.deps.clock.setTimeout(() => this.onStall(), this.spec.stallTimeoutMs);
  }

  /** Kill the current child so it restarts (e.g. after a settings change). */
  restart(reason: string): void {
    if (!this.child) return;
    this.deps.log.info({ child: this.spec.name, reason }, 'restarting child');
    this.child.kill('SIGTERM');
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    this.deps.clock.clearTimeout(this.retryTimer);
    this.deps.clock.clearTimeout(this.stallTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
      child.kill('SIGTERM');
      // Real time on purpose: a stuck child must die even when a test froze the clock.
      const killer = setTimeout(() => child.kill('SIGKILL'), this.spec.killTimeoutMs ?? 3000);
      await exited;
      clearTimeout(killer);
    }
    this.setHealth({ status: 'stopped', pid: undefined, since: undefined, nextStartAt: undefined });
  }

  private spawnNow(): void {
    const { spec, deps } = this;
    this.startedAt = deps.clock.now();
    let child: ChildProcess;
    try {
      child = spawn(spec.command, [...spec.args], {
        env: spec.env ?? process.env,
        cwd: spec.cwd,
        stdio: [spec.stdin ?? 'ignore', spec.stdout ?? 'ignore', 'pipe'],
      });
    } catch (err) {
      this.onExit(null, null, errorMessage(err));
      return;
    }
    this.child = child;
    let spawnError: string | undefined;
    child.once('error', (err) => {
      spawnError = errorMessage(err);
    });
    if (child.stderr) {
      const rl = createInterface({ input: child.stderr });
      rl.on('line', (line) => deps.log.debug({ child: spec.name, stderr: line }, 'child stderr'));
    }
    child.once('close', (code, signal) => this.onExit(code, signal, spawnError));
    this.setHealth({ status: 'running', pid: child.pid, since: this.startedAt, nextStartAt: undefined, lastError: undefined });
    deps.log.info({ child: spec.name, pid: child.pid, command: spec.command }, 'child started');
    this.kick();
    try {
      spec.onSpawn?.(child);
    } catch (err) {
      deps.log.error({ child: spec.name, err: errorMessage(err) }, 'onSpawn failed');
    }
  }

  private onStall(): void {
    this.deps.log.warn({ child: this.spec.name, stallMs: this.spec.stallTimeoutMs }, 'child stalled; killing');
    this.setHealth({ lastError: `stalled: no progress for ${this.spec.stallTimeoutMs} ms` });
    this.child?.kill('SIGKILL');
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, error?: string): void {
    const { spec, deps } = this;
    deps.clock.clearTimeout(this.stallTimer);
    this.child = undefined;
    for (const w of this.exitWaiters.splice(0)) w();
    const now = deps.clock.now();
    const restarting = this.running && !this.stopping;
    spec.onExit?.({ code, signal, restarting });
    if (!restarting) return;
    if (now - this.startedAt >= (spec.stableAfterMs ?? 30_000)) this.attempt = 0;
    const delay = backoffDelay(this.attempt, spec.backoff ?? { baseMs: 500, maxMs: 30_000 });
    this.attempt++;
    this.restarts++;
    const lastError = error ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
    deps.log.warn({ child: spec.name, code, signal, error, retryInMs: delay, attempt: this.attempt }, 'child exited; will restart');
    const failedNow = this.attempt >= (spec.failAfter ?? 5);
    this.setHealth({
      status: failedNow ? 'failed' : 'backoff',
      pid: undefined,
      since: undefined,
      restarts: this.restarts,
      lastExit: { code, signal, at: now },
      lastError,
      nextStartAt: now + delay,
    });
    if (failedNow !== this.failed) {
      this.failed = failedNow;
      spec.onFailedChange?.(failedNow);
    }
    this.retryTimer = deps.clock.setTimeout(() => {
      if (this.running) this.spawnNow();
    }, delay);
  }

  /** Marks the child healthy again after a stable run; call from progress handlers. */
  markHealthy(): void {
    if (this.failed && this.deps.clock.now() - this.startedAt >= (this.spec.stableAfterMs ?? 30_000)) {
      this.failed = false;
      this.attempt = 0;
      this.spec.onFailedChange?.(false);
    }
  }

  private setHealth(patch: Partial<ChildHealth>): void {
    const name = this.spec.name;
    this.deps.state.update('children', (prev) => {
      const base: ChildHealth = prev[name] ?? { name, kind: 'supervised', status: 'starting', restarts: 0 };
      const next: ChildHealth = { ...base, ...patch, restarts: this.restarts };
      for (const k of Object.keys(next) as (keyof ChildHealth)[]) if (next[k] === undefined) delete next[k];
      return { ...prev, [name]: next };
    });
  }
}

/** A child that runs to its end (run-once mode): see OnceRunner. */
export interface OnceSpec {
  /** What it is for (`view360.stitch`, `nmcli`, `format-card`): the log field and its state.children name. */
  name: string;
  /** The program; default FFMPEG (src/core/ffmpeg.ts), which most one-shots are (an encode, a stitch, a push). */
  command?: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdin?: 'ignore' | 'pipe';
  /**
   * `capture` (default): kept in the result, up to maxOutputBytes; `pipe`: the caller reads
   * `child.stdout` itself (ffmpeg's progress lines); `ignore`.
   */
  stdout?: 'capture' | 'pipe' | 'ignore';
  /** Stopped (SIGTERM, then SIGKILL) after this long (clock time); the result says timedOut. */
  timeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL. */
  killTimeoutMs?: number;
  /** Aborting it stops the child (the result says aborted). */
  signal?: AbortSignal;
  /** Bound of the captured stdout (bytes) and of the stderr tail kept in the result (characters). Default 64 KiB. */
  maxOutputBytes?: number;
}

export interface OnceResult {
  name: string;
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Captured stdout (`stdout: 'capture'`), cut at maxOutputBytes. */
  stdout: string;
  /** The last stderr lines (at most STDERR_LINES, within maxOutputBytes): the reason an ffmpeg failed is in there. */
  stderr: string[];
  /** Output beyond the bound was dropped (stdout cut, or stderr lines cut). */
  truncated: boolean;
  timedOut: boolean;
  aborted: boolean;
  /** The program could not be started; the message names it (`cannot run nmcli: no such program (ENOENT)`). */
  error?: string;
}

/** Lines of stderr kept in a result: ffmpeg's last words are enough to say why it failed. */
export const STDERR_LINES = 20;
const DEFAULT_MAX_OUTPUT = 64 * 1024;

/** Why a result is a failure, naming the program; undefined for a clean exit 0. */
export function onceFailure(res: OnceResult, timeoutMs?: number): string | undefined {
  if (res.error) return res.error;
  if (res.timedOut) return `${res.command} timed out after ${timeoutMs ?? '?'} ms`;
  if (res.aborted) return `${res.command} was stopped before it finished`;
  if (res.code === 0) return undefined;
  return res.signal ? `${res.command} killed by ${res.signal}` : `${res.command} exited with code ${res.code}`;
}

function spawnFailure(command: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `cannot run ${command}: no such program (ENOENT)`;
  if (code === 'EACCES') return `cannot run ${command}: permission denied`;
  return `cannot run ${command}: ${errorMessage(err)}`;
}

/**
 * Stderr as lines with bounded memory: a child that writes megabytes without a newline, or
 * thousands of lines, costs at most `maxBytes` here (the log still sees every line, cut).
 */
class LineTail {
  readonly lines: string[] = [];
  truncated = false;
  private partial = '';
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
  ) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    if (this.partial.length > this.maxBytes) {
      this.partial = this.partial.slice(0, this.maxBytes);
      this.truncated = true;
    }
    for (const line of parts) this.add(line);
  }

  end(): void {
    if (this.partial) this.add(this.partial);
    this.partial = '';
  }

  private add(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    this.onLine(line);
    this.lines.push(line);
    this.bytes += line.length;
    while (this.lines.length > STDERR_LINES || (this.bytes > this.maxBytes && this.lines.length > 1)) {
      this.bytes -= this.lines.shift()!.length;
      this.truncated = true;
    }
  }
}

/**
 * One running one-shot child. It is started in its own process group (detached) so that stop,
 * timeout and abort reach whatever it started too (a format script's mkfs, a shell's pipeline),
 * and whatever is left of the group when it exits is killed: nothing a one-shot started outlives
 * it, and nothing left behind holds its pipes open. The price: a signal to the daemon's own group
 * (a terminal's Ctrl-C) does not reach it; the daemon's stop ends it, and under systemd
 * (KillMode=mixed) the cgroup's final SIGKILL covers a daemon that died first.
 */
export class OnceChild {
  readonly child: ChildProcess;
  readonly done: Promise<OnceResult>;
  readonly command: string;
  private readonly key: string | undefined;
  private timer: TimerHandle | undefined;
  private timedOut = false;
  private aborted = false;
  private exited = false;
  private readonly stdoutChunks: Buffer[] = [];
  private stdoutBytes = 0;
  private stdoutTruncated = false;
  private spawnError: string | undefined;
  private stopping: Promise<OnceResult> | undefined;

  constructor(
    readonly spec: OnceSpec,
    private readonly deps: { clock: Clock; log: Logger; state: StateStore },
  ) {
    const command = (this.command = spec.command ?? FFMPEG);
    const max = spec.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const stdoutMode = spec.stdout ?? 'capture';
    // Throws only on bad arguments (a programming error); a missing program arrives as 'error'.
    this.child = spawn(command, [...spec.args], {
      env: spec.env ?? process.env,
      cwd: spec.cwd,
      stdio: [spec.stdin ?? 'ignore', stdoutMode === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
      detached: true,
    });
    const child = this.child;
    const log = deps.log;
    const tail = new LineTail(max, (line) => log.debug({ child: spec.name, stderr: line }, 'child stderr'));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => tail.push(chunk));
    if (stdoutMode === 'capture') {
      child.stdout!.on('data', (chunk: Buffer) => {
        // Keep reading past the bound (and drop it): a child blocked on a full pipe would never finish.
        const room = max - this.stdoutBytes;
        if (chunk.length > room) this.stdoutTruncated = true;
        if (room <= 0) return;
        const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
        this.stdoutChunks.push(kept);
        this.stdoutBytes += kept.length;
      });
    }
    // `on`, not `once`: a second 'error' without a listener would throw in the daemon.
    child.on('error', (err) => {
      // After a successful spawn an 'error' is a failed kill(); only a spawn failure matters here.
      if (child.pid === undefined) this.spawnError = spawnFailure(command, err);
      else log.warn({ child: spec.name, err: errorMessage(err) }, 'child process error');
    });
    child.once('exit', () => {
      this.exited = true;
      // The leader is gone; what it started may not be: end the group (it would hold the pipes).
      this.killGroup('SIGKILL');
    });
    if (child.pid !== undefined) {
      this.key = `${spec.name}#${child.pid}`;
      const entry: ChildHealth = { name: spec.name, kind: 'once', status: 'running', pid: child.pid, since: deps.clock.now(), restarts: 0 };
      deps.state.update('children', (prev) => ({ ...prev, [this.key!]: entry }));
      log.debug({ child: spec.name, pid: child.pid, command }, 'child started');
    }
    if (spec.timeoutMs) {
      this.timer = deps.clock.setTimeout(() => {
        this.timedOut = true;
        log.warn({ child: spec.name, command, timeoutMs: spec.timeoutMs }, 'child timed out; killing');
        void this.stop();
      }, spec.timeoutMs);
    }
    const onAbort = (): void => {
      this.aborted = true;
      void this.stop();
    };
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    this.done = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exited = true;
        deps.clock.clearTimeout(this.timer);
        spec.signal?.removeEventListener('abort', onAbort);
        tail.end();
        if (this.key) {
          const key = this.key;
          deps.state.update('children', (prev) => {
            const { [key]: _gone, ...rest } = prev;
            return rest;
          });
        }
        const res: OnceResult = {
          name: spec.name,
          command,
          code,
          signal,
          stdout: Buffer.concat(this.stdoutChunks).toString('utf8'),
          stderr: [...tail.lines],
          truncated: this.stdoutTruncated || tail.truncated,
          timedOut: this.timedOut,
          aborted: this.aborted,
        };
        if (this.spawnError) res.error = this.spawnError;
        resolve(res);
      });
    });
    // Aborted before it began: it still ran for an instant; stop it now.
    if (spec.signal?.aborted) onAbort();
  }

  get pid(): number | undefined {
    return this.exited ? undefined : this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** SIGTERM to the group (ffmpeg then finishes its files), SIGKILL after the grace. Resolves on exit. */
  stop(): Promise<OnceResult> {
    if (this.exited) return this.done;
    this.stopping ??= (async () => {
      this.killGroup('SIGTERM');
      // Real time on purpose, like ChildRunner.stop: a stuck child must die even under a frozen clock.
      const killer = setTimeout(() => this.killGroup('SIGKILL'), this.spec.killTimeoutMs ?? 3000);
      const res = await this.done;
      clearTimeout(killer);
      return res;
    })();
    return this.stopping;
  }

  private killGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // ESRCH: the group is already empty. If the leader is still there (it left the group), at least it gets the signal.
      if (!this.exited) this.child.kill(sig);
    }
  }
}

/**
 * The run-once mode of the process runner: the one-shot children one service started, so its
 * stop() can end them all (stopAll). Each child is listed in state.children while it runs.
 */
export class OnceRunner {
  private readonly procs = new Set<OnceChild>();

  constructor(private readonly deps: { clock: Clock; log: Logger; state: StateStore }) {}

  start(spec: OnceSpec): OnceChild {
    const p = new OnceChild(spec, this.deps);
    this.procs.add(p);
    void p.done.then(() => this.procs.delete(p));
    return p;
  }

  /**
   * Runs to the end and resolves with the result of a clean exit 0; anything else becomes a
   * CamdError `<name> failed: <why>`, the why being the child's last stderr words or, without
   * them, the program and what happened to it (not found, timed out, exit code).
   */
  async run(spec: OnceSpec): Promise<OnceResult> {
    const res = await this.start(spec).done;
    const why = onceFailure(res, spec.timeoutMs);
    if (why === undefined) return res;
    const words = res.error || res.timedOut || res.aborted ? '' : res.stderr.slice(-2).join(' / ');
    throw new CamdError('failed', `${spec.name} failed: ${words || why}`);
  }

  get size(): number {
    return this.procs.size;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop()));
  }
}
