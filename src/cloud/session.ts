import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { backoffDelay, type Clock, type TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { ConnectPlan } from './connect-plan.js';
import type { InboundMessage } from './inbound.js';

export type LinkPhase = 'connecting' | 'online' | 'offline' | 'refused' | 'stopped';

/** A session that lasted this long was healthy: the next failure starts the backoff over. */
export const STABLE_MS = 30_000;
export const BACKOFF = { baseMs: 1000, maxMs: 60_000, jitter: true } as const;
/** Events in flight at most, whatever the broker allows: memory stays flat however deep the outbox is. */
export const EVENT_WINDOW_MAX = 256;

export interface SessionHooks {
  plan(): Promise<ConnectPlan>;
  /** CONNACK received: announce, subscribe, publish the state, resume the outbox. */
  connected(): Promise<void>;
  disconnected(reason: string): void;
  message(msg: InboundMessage): void;
  /** Link health changed (phase, error, retry time). */
  changed(): void;
}

/**
 * One MQTT 5 session at a time, a fresh client per attempt (so nothing of a dead connection —
 * its in-flight queue, its timers — leaks into the next), reconnecting with capped exponential
 * backoff and jitter on the injected clock.
 */
export class Session {
  phase: LinkPhase = 'connecting';
  since: number;
  lastError: string | undefined;
  lastConnectedAt: number | undefined;
  attempt = 0;
  nextRetryAt: number | undefined;
  private client: MqttClient | undefined;
  private generation = 0;
  private connectedAt: number | undefined;
  private retryTimer: TimerHandle | undefined;
  private stopped = false;
  /** The broker's Receive Maximum (CONNACK): QoS 1 publishes awaiting PUBACK may never exceed it. */
  private receiveMaximum = 65_535;
  private qos1InFlight = 0;
  private slotWaiters: { gen: number; go: () => void; fail: (e: Error) => void }[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly hooks: SessionHooks,
  ) {
    this.since = clock.now();
  }

  get connected(): boolean {
    return this.phase === 'online';
  }

  start(): void {
    void this.connect();
  }

  /** How many events may be in flight: the broker's Receive Maximum, less room for replies and state. */
  get eventWindow(): number {
    return Math.max(1, Math.min(EVENT_WINDOW_MAX, this.receiveMaximum - 4));
  }

  /**
   * Publishes on the current connection; resolves on PUBACK (QoS 1) or when written (QoS 0).
   * QoS 1 publishes wait for a slot under the broker's Receive Maximum (MQTT 5 §3.3.4).
   */
  async publish(topic: string, payload: string | Buffer, opts: IClientPublishOptions): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) throw new Error('not connected');
    const gen = this.generation;
    const qos1 = (opts.qos ?? 0) > 0;
    if (qos1) await this.slot(gen);
    try {
      await new Promise<void>((resolve, reject) => {
        client.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve()));
      });
    } finally {
      if (qos1 && gen === this.generation) this.release();
    }
  }

  private slot(gen: number): Promise<void> {
    if (this.qos1InFlight < this.receiveMaximum) {
      this.qos1InFlight++;
      return Promise.resolve();
    }
    return new Promise((go, fail) => this.slotWaiters.push({ gen, go, fail }));
  }

  private release(): void {
    const next = this.slotWaiters.shift();
    if (next) next.go();
    else this.qos1InFlight--;
  }

  /** A new connection starts with no publish in flight; waiters of the old one fail. */
  private resetSlots(receiveMaximum: number): void {
    this.receiveMaximum = receiveMaximum;
    this.qos1InFlight = 0;
    for (const w of this.slotWaiters.splice(0)) w.fail(new Error('not connected'));
  }

  subscribe(filters: string[]): Promise<{ topic: string; qos: number }[]> {
    const client = this.client;
    if (!client || !this.connected) return Promise.reject(new Error('not connected'));
    // rap (retain as published): a command published with retain=true is seen as retained even
    // when it is forwarded live, so the rule "retained commands are never executed" holds always.
    return client.subscribeAsync(Object.fromEntries(filters.map((topic) => [topic, { qos: 1 as const, rap: true }])));
  }

  /** Drop the current connection (e.g. the broker refused a publish) and reconnect with backoff. */
  drop(reason: string): void {
    const client = this.client;
    if (!client) return;
    this.lastError = reason;
    client.end(true);
  }

  /** Announces `offline` (a clean DISCONNECT does not fire the will) and closes. */
  async stop(offlinePayload: { topic: string; payload: string }): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.generation++;
    if (client && this.phase === 'online') {
      let timer: TimerHandle | undefined;
      await Promise.race([
        client.publishAsync(offlinePayload.topic, offlinePayload.payload, { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => (timer = this.clock.setTimeout(() => r(undefined), 2000))),
      ]);
      this.clock.clearTimeout(timer);
    }
    if (client) await client.endAsync(true).catch(() => undefined);
    this.setPhase('stopped');
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.retryTimer = undefined;
    this.nextRetryAt = undefined;
    this.setPhase('connecting');
    let plan: ConnectPlan;
    try {
      plan = await this.hooks.plan();
    } catch (err) {
      this.lastError = errorMessage(err);
      this.log.error({ err: this.lastError }, 'cloud link cannot be set up');
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return;
    if (plan.kind === 'refused') {
      this.lastError = plan.reason;
      this.log.error({ reason: plan.reason }, 'cloud link refused');
      this.setPhase('refused');
      return;
    }
    const gen = ++this.generation;
    this.log.info({ broker: plan.summary, attempt: this.attempt }, 'connecting to the cloud broker');
    const client = mqtt.connect(plan.url, plan.options);
    this.client = client;
    let wasConnected = false;
    client.on('connect', (connack) => {
      if (gen !== this.generation) return;
      wasConnected = true;
      this.resetSlots(connack.properties?.receiveMaximum ?? 65_535);
      this.connectedAt = this.clock.now();
      this.lastConnectedAt = this.connectedAt;
      this.lastError = undefined;
      this.setPhase('online');
      this.log.info({ broker: plan.summary }, 'cloud link online');
      this.hooks.connected().catch((err: unknown) => {
        this.log.error({ err: errorMessage(err) }, 'cloud link setup after connect failed');
        this.drop(`setup after connect failed: ${errorMessage(err)}`);
      });
    });
    client.on('message', (topic, payload, packet) => {
      if (gen !== this.generation) return;
      const props = packet.properties;
      this.hooks.message({
        topic,
        payload,
        retain: packet.retain,
        ...(props?.responseTopic !== undefined && { responseTopic: props.responseTopic }),
        ...(props?.correlationData !== undefined && { correlationData: Buffer.from(props.correlationData) }),
      });
    });
    client.on('error', (err) => {
      if (gen !== this.generation) return;
      this.lastError = describe(err);
    });
    client.on('close', () => {
      if (gen !== this.generation) return;
      this.generation++;
      this.resetSlots(this.receiveMaximum);
      this.client = undefined;
      client.end(true);
      this.closed(wasConnected);
    });
  }

  private closed(wasConnected: boolean): void {
    const now = this.clock.now();
    if (wasConnected && this.connectedAt !== undefined && now - this.connectedAt >= STABLE_MS) this.attempt = 0;
    this.lastError ??= wasConnected ? 'connection lost' : 'connection closed before CONNACK';
    this.log.warn({ err: this.lastError, wasConnected }, wasConnected ? 'cloud link lost' : 'cloud broker not reachable');
    this.hooks.disconnected(this.lastError);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, BACKOFF);
    this.attempt++;
    this.nextRetryAt = this.clock.now() + delay;
    this.setPhase('offline');
    this.retryTimer = this.clock.setTimeout(() => void this.connect(), delay);
  }

  private setPhase(phase: LinkPhase): void {
    if (this.phase !== phase) {
      this.phase = phase;
      this.since = this.clock.now();
    }
    this.hooks.changed();
  }
}

function describe(err: Error & { code?: unknown }): string {
  const code = typeof err.code === 'string' ? `${err.code}: ` : '';
  return `${code}${err.message}`.slice(0, 300);
}
