import type { Logger } from 'pino';
import type { TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Context, Service } from '../supervisor/service.js';
import { readHealth, type HealthState } from './readings.js';

declare module '../state/store.js' {
  interface CamState {
    /** The latest health sample (CPU, temperature, memory, disks, uptime); see src/health. */
    health?: HealthState;
  }
}

/**
 * Samples the board's health every `health.intervalSeconds` (on ctx.clock) into `state.health`.
 * A sample still running when the next is due is not doubled up; a failing reading is logged
 * when it starts failing and when it recovers, not on every sample.
 */
export class HealthService implements Service {
  readonly name = 'health';
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private running = false;
  private failing = new Map<string, string>();
  private unConfig: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('health');
  }

  async start(): Promise<void> {
    this.running = true;
    this.schedule();
    this.unConfig = this.ctx.config.onChange(this, (_c, paths) => {
      if (paths.includes('health.intervalSeconds')) this.schedule();
    });
    // The first sample runs in the background: boot does not wait for `df`.
    void this.sample();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unConfig?.();
    this.ctx.clock.clearInterval(this.timer);
  }

  private schedule(): void {
    this.ctx.clock.clearInterval(this.timer);
    this.timer = this.ctx.clock.setInterval(() => void this.sample(), this.ctx.config.get().health.intervalSeconds * 1000);
  }

  private async sample(): Promise<void> {
    if (this.inFlight || !this.running) return;
    this.inFlight = true;
    try {
      const h = await readHealth({ dataDir: this.ctx.paths.dataDir, cardMount: this.ctx.paths.cardMount }, this.ctx.clock.now());
      if (!this.running) return;
      for (const [name, error] of Object.entries(h.errors)) {
        if (this.failing.get(name) !== error) this.log.warn({ reading: name, error }, 'health reading failed');
        this.failing.set(name, error);
      }
      for (const name of [...this.failing.keys()]) {
        if (!(name in h.errors)) {
          this.failing.delete(name);
          this.log.info({ reading: name }, 'health reading recovered');
        }
      }
      this.ctx.state.set('health', h);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'health sample failed');
    } finally {
      this.inFlight = false;
    }
  }
}

export const healthService = (ctx: Context): Service => new HealthService(ctx);
