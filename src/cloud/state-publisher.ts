import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { CamState, StateStore } from '../state/store.js';
import { Throttle } from './throttle.js';

/** At most one retained state publish per window; the one at the end of a window has the latest state. */
export const STATE_WINDOW_MS = 250;

export interface DeviceInfo {
  serial: string;
  model: string;
  board: string;
}

/**
 * The retained `state` document: the whole state store plus who the device is. Nothing secret
 * is in the store by design; the one field that can echo a secret (a JSON parse error of the
 * secrets file quotes the file) is reduced to a flag.
 */
export function buildState(state: Readonly<CamState>, info: DeviceInfo, now: number): Record<string, unknown> {
  const { config, ...rest } = state;
  const out: Record<string, unknown> = { schema: 1, ts: now, ...info, uptimeMs: now - state.startedAt, ...rest };
  if (config) {
    const { secretsError, ...cfg } = config;
    out.config = secretsError ? { ...cfg, secretsError: true } : cfg;
  }
  return out;
}

/** Publishes the state on change, coalesced; forced (full, even if unchanged) on every connect. */
export class StatePublisher {
  private readonly throttle: Throttle;
  private unsubscribe: (() => void) | undefined;
  private lastBody: string | undefined;
  private force = false;
  /** Publishes sent (for the benchmark and the tests). */
  published = 0;

  constructor(
    private readonly opts: {
      clock: Clock;
      state: StateStore;
      info: DeviceInfo;
      log: Logger;
      connected(): boolean;
      publish(payload: string): Promise<void>;
    },
  ) {
    this.throttle = new Throttle(opts.clock, STATE_WINDOW_MS, () => this.publish(), (err) =>
      opts.log.warn({ err: errorMessage(err) }, 'state publish failed'),
    );
  }

  start(): void {
    this.unsubscribe = this.opts.state.subscribe(() => this.throttle.trigger());
  }

  /** After (re)connecting: the full state now, regardless of the window or of what was sent before. */
  async publishNow(): Promise<void> {
    this.force = true;
    this.throttle.trigger();
    await this.throttle.flush();
  }

  stop(): void {
    this.unsubscribe?.();
    this.throttle.stop();
  }

  private async publish(): Promise<void> {
    if (!this.opts.connected()) return;
    const { clock, state, info } = this.opts;
    const doc = buildState(state.get(), info, clock.now());
    const { ts: _ts, uptimeMs: _up, ...comparable } = doc;
    const body = JSON.stringify(comparable);
    if (!this.force && body === this.lastBody) return;
    this.force = false;
    this.lastBody = body;
    this.published++;
    await this.opts.publish(JSON.stringify(doc));
  }
}
