import type { Clock, TimerHandle } from '../core/clock.js';

/**
 * Leading + trailing throttle on the injected clock: the first trigger after a quiet period runs
 * at once; triggers within `intervalMs` of the last run collapse into one run at the end of the
 * window, which sees the latest data. At most one run is in flight. Used for the retained state
 * (no publish storm when many fields change at once), the outbox cursor (flash wear) and the
 * `cloud` health slice.
 */
export class Throttle {
  private dirty = false;
  private running: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private lastRun = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly fn: () => Promise<void> | void,
    private readonly onError: (err: unknown) => void,
  ) {}

  trigger(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.schedule();
  }

  /** Runs now if something is pending (ignoring the window) and waits for it. */
  async flush(): Promise<void> {
    while (this.running || this.dirty) {
      if (this.running) {
        await this.running;
        continue;
      }
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      await this.run();
    }
  }

  /** No more runs; a pending trigger is dropped (call flush() first to keep it). */
  stop(): void {
    this.stopped = true;
    this.dirty = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.dirty || this.running || this.timer !== undefined || this.stopped) return;
    const wait = this.lastRun + this.intervalMs - this.clock.now();
    if (wait <= 0) {
      void this.run();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
  }

  private run(): Promise<void> {
    this.dirty = false;
    this.lastRun = this.clock.now();
    const p = (async () => {
      try {
        await this.fn();
      } catch (err) {
        this.onError(err);
      }
    })();
    this.running = p;
    void p.then(() => {
      this.running = undefined;
      this.schedule();
    });
    return p;
  }
}
