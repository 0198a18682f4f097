import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { CamState, StateStore } from '../state/store.js';
import { splitTelemetry } from './telemetry-split.js';
import { Throttle } from './throttle.js';

/**
 * At most one retained state publish per window; the first change after a quiet period goes out
 * at once, the one at the end of a window has the latest state. Telemetry no longer triggers the
 * state, so what remains are real events (an episode opens, the card fills, the link drops):
 * a second is soon enough for the app and caps an alarm storm at one ~3.5 KB document a second.
 */
export const STATE_WINDOW_MS = 1000;

/**
 * AWS IoT's device-shadow document limit, the smallest any cloud we target has: the state must fit
 * whole, so a cloud can mirror it into a shadow. Over it the state still goes out (a truncated
 * state would be a wrong state), and the log says which slices are big.
 */
export const STATE_MAX_BYTES = 8 * 1024;

export interface DeviceInfo {
  serial: string;
  model: string;
  board: string;
}

/**
 * The whole store plus who the device is. Nothing secret is in the store by design; the one
 * field that can echo a secret (a JSON parse error of the secrets file quotes the file) is
 * reduced to a flag.
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

/**
 * The two published documents of one moment: the retained `state` (the store without its
 * telemetry fields, see telemetry-split.ts) and the `telemetry` document (those fields, with the
 * time, uptime and boot id a consumer needs to turn counters into rates).
 */
export function buildDocuments(state: Readonly<CamState>, info: DeviceInfo, now: number): { state: Record<string, unknown>; telemetry: Record<string, unknown> } {
  const { schema, ts, serial, model, board, uptimeMs, ...store } = buildState(state, info, now);
  // One-shot children (nmcli at every 2 s network poll, a stitch, a push) come and go within
  // seconds: in the state each would publish it twice, so they travel whole in telemetry.
  const supervised = Object.fromEntries(Object.entries(state.children).filter(([, c]) => c.kind !== 'once'));
  const once = Object.fromEntries(Object.entries(state.children).filter(([, c]) => c.kind === 'once'));
  const split = splitTelemetry({ ...store, children: supervised });
  if (Object.keys(once).length) split.telemetry.children = { ...(split.telemetry.children as Record<string, unknown> | undefined), ...once };
  return {
    state: { schema, ts, serial, model, board, uptimeMs, ...split.state },
    telemetry: { schema, ts, uptimeMs, bootId: state.bootId, ...split.telemetry },
  };
}

/**
 * Publishes the state when something meaningful in it changed (telemetry fields, `ts` and
 * `uptimeMs` do not count), coalesced to one publish per STATE_WINDOW_MS; forced (in full, even
 * if unchanged) on every connect.
 */
export class StatePublisher {
  private readonly throttle: Throttle;
  private unsubscribe: (() => void) | undefined;
  private lastBody: string | undefined;
  private force = false;
  private warnedSize = false;
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
    const doc = buildDocuments(state.get(), info, clock.now()).state;
    const { ts: _ts, uptimeMs: _up, ...comparable } = doc;
    const body = JSON.stringify(comparable);
    if (!this.force && body === this.lastBody) return;
    this.force = false;
    this.lastBody = body;
    this.published++;
    const payload = JSON.stringify(doc);
    this.checkSize(doc, payload);
    await this.opts.publish(payload);
  }

  private checkSize(doc: Record<string, unknown>, payload: string): void {
    const bytes = Buffer.byteLength(payload);
    if (bytes <= STATE_MAX_BYTES || this.warnedSize) return;
    // Once per boot: the same oversized slice would otherwise log on every publish.
    this.warnedSize = true;
    const slices = Object.entries(doc)
      .map(([key, v]) => [key, Buffer.byteLength(JSON.stringify(v) ?? '')] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5);
    this.opts.log.warn({ bytes, limit: STATE_MAX_BYTES, largest: Object.fromEntries(slices) }, 'state document over the shadow size limit');
  }
}
