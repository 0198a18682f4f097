import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { CamdError } from '../core/errors.js';

/**
 * Processes that run to their end and are not restarted: a snapshot encode, a panorama stitch, a
 * live push, talk playback. Long-lived capture goes through ctx.spawnChild (ChildRunner) instead;
 * these follow the same rules: stderr to the log, killed on timeout or stop (SIGTERM, then SIGKILL).
 */
export interface OnceSpec {
  name: string;
  command?: string;
  args: readonly string[];
  stdin?: 'ignore' | 'pipe';
  stdout?: 'ignore' | 'pipe';
  /** Killed after this long (clock time). */
  timeoutMs?: number;
  killGraceMs?: number;
}

export interface OnceResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last stderr lines: the reason an ffmpeg failed is in there. */
  stderr: string[];
  timedOut: boolean;
}

export class OnceProcess {
  readonly child: ChildProcess;
  readonly done: Promise<OnceResult>;
  private readonly tail: string[] = [];
  private timer: TimerHandle | undefined;
  private timedOut = false;
  private exited = false;

  constructor(
    readonly spec: OnceSpec,
    deps: { log: Logger; clock: Clock },
  ) {
    this.child = spawn(spec.command ?? 'ffmpeg', [...spec.args], { stdio: [spec.stdin ?? 'ignore', spec.stdout ?? 'ignore', 'pipe'] });
    const rl = createInterface({ input: this.child.stderr! });
    rl.on('line', (line) => {
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
      deps.log.debug({ child: spec.name, stderr: line }, 'child stderr');
    });
    let spawnError: Error | undefined;
    this.child.once('error', (err) => (spawnError = err));
    if (spec.timeoutMs) {
      this.timer = deps.clock.setTimeout(() => {
        this.timedOut = true;
        deps.log.warn({ child: spec.name, timeoutMs: spec.timeoutMs }, 'child timed out; killing');
        void this.stop();
      }, spec.timeoutMs);
    }
    this.done = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exited = true;
        deps.clock.clearTimeout(this.timer);
        if (spawnError) this.tail.push(spawnError.message);
        resolve({ code, signal, stderr: [...this.tail], timedOut: this.timedOut });
      });
    });
  }

  get pid(): number | undefined {
    return this.exited ? undefined : this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** SIGTERM (ffmpeg then finishes its files), SIGKILL after the grace. Resolves on exit. */
  async stop(): Promise<OnceResult> {
    if (!this.exited) {
      this.child.kill('SIGTERM');
      // Real time on purpose, like the runner: a stuck child must die even under a frozen clock.
      const killer = setTimeout(() => this.child.kill('SIGKILL'), this.spec.killGraceMs ?? 3000);
      const res = await this.done;
      clearTimeout(killer);
      return res;
    }
    return this.done;
  }
}

/** The processes one service started, so stop() can end them all. */
export class ProcessSet {
  private readonly procs = new Set<OnceProcess>();

  constructor(private readonly deps: { log: Logger; clock: Clock }) {}

  start(spec: OnceSpec): OnceProcess {
    const p = new OnceProcess(spec, this.deps);
    this.procs.add(p);
    void p.done.then(() => this.procs.delete(p));
    return p;
  }

  /** Runs to the end; a non-zero exit becomes a CamdError carrying ffmpeg's last words. */
  async run(spec: OnceSpec): Promise<void> {
    const res = await this.start(spec).done;
    if (res.code !== 0) {
      const why = res.timedOut ? `timed out after ${spec.timeoutMs} ms` : res.stderr.slice(-2).join(' / ') || `exit ${res.code ?? res.signal}`;
      throw new CamdError('failed', `${spec.name} failed: ${why}`);
    }
  }

  get size(): number {
    return this.procs.size;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop()));
  }
}
