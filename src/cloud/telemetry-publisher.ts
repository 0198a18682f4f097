import type { Logger } from 'pino';
import type { ConfigStore } from '../config/store.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { StateStore } from '../state/store.js';
import { buildDocuments, type DeviceInfo } from './state-publisher.js';

/**
 * Publishes the `telemetry` document (the store's fast-moving fields, telemetry-split.ts) every
 * `cloud.telemetrySeconds` on the injected clock, and once right after every connect. The period
 * starts at the connect, so a fleet whose reconnects are spread by jitter stays spread.
 *
 * Nothing is queued while offline: a reading is worth only its latest value, and the next one
 * follows at the next connect.
 */
export class TelemetryPublisher {
  private timer: TimerHandle | undefined;
  private unConfig: (() => void) | undefined;
  private stopped = false;
  /** Publishes sent (for the tests and the fleet measurement). */
  published = 0;

  constructor(
    private readonly opts: {
      clock: Clock;
      state: StateStore;
      config: ConfigStore;
      info: DeviceInfo;
      log: Logger;
      connected(): boolean;
      publish(payload: string): Promise<void>;
    },
  ) {}

  start(): void {
    this.unConfig = this.opts.config.onChange((_c, paths) => {
      // A new period applies from now: the next reading comes one new period later.
      if (paths.includes('cloud.telemetrySeconds')) this.arm();
    });
    this.arm();
  }

  /** After (re)connecting: the current readings now, and the period starts over. */
  async publishNow(): Promise<void> {
    this.arm();
    await this.publish();
  }

  stop(): void {
    this.stopped = true;
    this.unConfig?.();
    this.opts.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    const { clock, config } = this.opts;
    clock.clearInterval(this.timer);
    this.timer = clock.setInterval(() => {
      this.publish().catch((err: unknown) => this.opts.log.warn({ err: errorMessage(err) }, 'telemetry publish failed'));
    }, config.get().cloud.telemetrySeconds * 1000);
  }

  private async publish(): Promise<void> {
    if (this.stopped || !this.opts.connected()) return;
    const { clock, state, info } = this.opts;
    const doc = buildDocuments(state.get(), info, clock.now()).telemetry;
    this.published++;
    await this.opts.publish(JSON.stringify(doc));
  }
}
