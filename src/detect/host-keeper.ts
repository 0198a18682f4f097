import type { Logger } from 'pino';
import { backoffDelay, type Clock, type TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { ObjectDetector } from './detector-host.js';

/** What the keeper needs of a detector host (DetectorHost implements it). */
export interface KeptHost extends ObjectDetector {
  onFailure(listener: (err: Error) => void): () => void;
  /** Resolves once the host's worker thread has ended (after its in-flight runs). */
  close(): Promise<void>;
  /** Requests sent to the worker and not answered yet. */
  readonly inFlight: number;
}

/** The model file itself is missing or altered: re-trying cannot help until it is replaced. */
export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
}

export type HostStatus = 'loading' | 'ready' | 'restarting' | 'failed';

export interface HostKeeperOptions {
  open(): Promise<KeptHost>;
  clock: Clock;
  log: Logger;
  /** Called on every status change; `host` is the usable detector or null. */
  onChange(host: KeptHost | null, status: HostStatus, reason: string | undefined): void;
  /** Re-creations allowed within `windowMs` before giving up (Frigate-style restart-rate limit). */
  maxRestarts?: number;
  windowMs?: number;
  backoff?: { baseMs: number; maxMs: number };
}

/**
 * Keeps one object-detector host alive: opens it, and when its worker dies re-creates it after
 * a capped exponential backoff on the injected clock. More than `maxRestarts` failures within
 * `windowMs` (a worker that crashes on every frame, a runtime that cannot start) and it gives
 * up: status `failed`, and the daemon runs on image change alone. A missing or altered model
 * (ModelFileError) is `failed` at once — no retry can fix a file.
 */
export class HostKeeper {
  private host: KeptHost | null = null;
  private statusValue: HostStatus = 'loading';
  private reasonValue: string | undefined;
  private failures: number[] = [];
  private timer: TimerHandle | undefined;
  private opening: Promise<void> | undefined;
  private stopped = false;
  private restartCount = 0;
  private cause: 'model' | 'worker' | undefined;
  /** Hosts being closed (a dead one being cleaned up, or the current one at stop). */
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly opts: HostKeeperOptions) {}

  get status(): HostStatus {
    return this.statusValue;
  }

  get reason(): string | undefined {
    return this.reasonValue;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** Why it is `failed`: the model file, or a worker that kept dying / would not start. */
  get failure(): 'model' | 'worker' | undefined {
    return this.statusValue === 'failed' ? this.cause : undefined;
  }

  get current(): KeptHost | null {
    return this.host;
  }

  start(): void {
    this.openNow();
  }

  /**
   * Resolves only when no host's worker thread is left: the daemon exits (or a test's process
   * ends) right after, and a worker thread still running an inference at process exit aborts
   * the process (worker.ts).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.opening;
    const h = this.host;
    this.host = null;
    if (h) {
      // Said in the log because it is the case that once aborted the daemon: stopping while
      // the model runs. Those runs are finished (and answered) before the session goes.
      const inFlight = h.inFlight;
      const t0 = this.opts.clock.now();
      await this.closeHost(h);
      this.opts.log.info({ inFlight, ms: this.opts.clock.now() - t0 }, 'object detector stopped');
    }
    await Promise.all([...this.closing]);
  }

  private closeHost(h: KeptHost): Promise<void> {
    const done: Promise<void> = h
      .close()
      .catch((err: unknown) => this.opts.log.warn({ err: errorMessage(err) }, 'object detector did not stop cleanly'))
      .finally(() => this.closing.delete(done));
    this.closing.add(done);
    return done;
  }

  private openNow(): void {
    this.opening = this.opts.open().then(
      (h) => this.opened(h),
      (err: unknown) => this.failed(err),
    );
  }

  private async opened(h: KeptHost): Promise<void> {
    if (this.stopped) {
      await this.closeHost(h);
      return;
    }
    this.host = h;
    h.onFailure((err) => void this.died(h, err));
    this.set('ready', undefined);
    this.opts.log.info({ restarts: this.restartCount }, 'object detector ready');
  }

  private async failed(err: unknown): Promise<void> {
    if (this.stopped) return;
    if (err instanceof ModelFileError) {
      this.opts.log.error({ err: err.message }, 'object detection model unusable: human and vehicle detection are off');
      this.cause = 'model';
      this.set('failed', err.message);
      return;
    }
    this.retry(`object detector did not start: ${errorMessage(err)}`);
  }

  private async died(h: KeptHost, err: Error): Promise<void> {
    if (h !== this.host || this.stopped) return;
    this.host = null;
    // The lanes let go of the dead host at once (status `restarting`, host null); its clean-up
    // is tracked so that stop() waits for it too.
    this.retry(`inference worker failed: ${err.message}`);
    await this.closeHost(h);
  }

  private retry(reason: string): void {
    const now = this.opts.clock.now();
    const windowMs = this.opts.windowMs ?? 10 * 60_000;
    const max = this.opts.maxRestarts ?? 5;
    this.failures = [...this.failures.filter((t) => now - t < windowMs), now];
    if (this.failures.length > max) {
      const why = `${reason} (${this.failures.length} failures within ${Math.round(windowMs / 60_000)} min: giving up until the daemon restarts)`;
      this.opts.log.error({ reason }, 'object detector keeps failing: human and vehicle detection are off');
      this.cause = 'worker';
      this.set('failed', why);
      return;
    }
    const delay = backoffDelay(this.failures.length - 1, this.opts.backoff ?? { baseMs: 1000, maxMs: 60_000 });
    this.opts.log.warn({ reason, delayMs: delay, attempt: this.failures.length }, 're-creating the object detector');
    this.set('restarting', reason);
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.restartCount++;
      this.openNow();
    }, delay);
  }

  private set(status: HostStatus, reason: string | undefined): void {
    this.statusValue = status;
    this.reasonValue = reason;
    this.opts.onChange(this.host, status, reason);
  }
}
