import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { backoffDelay, type Clock, type TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
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
    this.setHealth({ status: 'stopped', pid: undefined, nextStartAt: undefined });
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
    this.setHealth({ status: 'running', pid: child.pid, nextStartAt: undefined, lastError: undefined });
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
      const base: ChildHealth = prev[name] ?? { name, status: 'starting', restarts: 0 };
      const next: ChildHealth = { ...base, ...patch, restarts: this.restarts };
      for (const k of Object.keys(next) as (keyof ChildHealth)[]) if (next[k] === undefined) delete next[k];
      return { ...prev, [name]: next };
    });
  }
}
