import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { withClockHint } from '../core/clock-sync.js';
import { errorMessage } from '../core/errors.js';
import type { ConnectPlan } from './connect-plan.js';
import type { InboundMessage } from './inbound.js';
import { reconnectDelay, type ReconnectCause } from './reconnect-delay.js';

export type LinkPhase = 'connecting' | 'online' | 'offline' | 'refused' | 'stopped';

/** A session that lasted this long was healthy: the next failure starts the backoff over. */
export const STABLE_MS = 30_000;
/** Events in flight at most, whatever the broker allows: memory stays flat however deep the outbox is. */
export const EVENT_WINDOW_MAX = 256;
/** MQTT 5 DISCONNECT reason 0x04: the broker publishes the will (our `offline`). */
const DISCONNECT_WITH_WILL = 0x04;

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
 * its in-flight queue, its timers — leaks into the next), reconnecting on the injected clock as
 * reconnect-delay.ts says (a lost session spread over 30 s, failed attempts backed off with jitter).
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

  subscribe(filters: string[], opts: { rap?: boolean } = {}): Promise<{ topic: string; qos: number }[]> {
    const client = this.client;
    if (!client || !this.connected) return Promise.reject(new Error('not connected'));
    // rap (retain as published): a command published with retain=true is seen as retained even
    // when it is forwarded live, so the rule "retained commands are never executed" holds always.
    const rap = opts.rap ?? true;
    return client.subscribeAsync(Object.fromEntries(filters.map((topic) => [topic, { qos: 1 as const, rap }])));
  }

  /** For the MQTT port's subscribers (mqtt-port.ts). */
  async unsubscribe(filters: string[]): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) return;
    await client.unsubscribeAsync(filters);
  }

  /** Drop the current connection (e.g. the broker refused a publish) and reconnect with backoff. */
  drop(reason: string): void {
    const client = this.client;
    if (!client) return;
    this.lastError = reason;
    client.end(true);
  }

  /**
   * Announces `offline` exactly once, then closes: by a DISCONNECT with reason 0x04 ("disconnect
   * with will message", MQTT 5 §3.14.2.1), which asks the broker to publish the will — retained
   * `offline`, QoS 1, the same message it sends when the link dies. Every way this can end gives
   * one `offline`: the broker handles the DISCONNECT (the will), or the connection breaks first
   * (the will), or the link was already dead (the will, at the keepalive timeout).
   *
   * Why not publish `offline` ourselves and end with a normal DISCONNECT (which discards the
   * will)? That is what this did before, and it closed without any DISCONNECT, so the broker sent
   * both. Done right it is still two whenever the broker reads our PUBLISH but not the DISCONNECT
   * behind it — seen with a broker that stalled during our shutdown: its PUBACKs then hit our
   * closed socket, the reset cost it the last bytes, and the will followed our own `offline`.
   * The client speaks MQTT 5 only (connect-plan.ts), so reason 0x04 is always understood.
   *
   * Publishes still in flight get up to 1 s for their PUBACKs (fewer events re-sent at the next
   * connect), then are dropped from the client: mqtt.js would hold the DISCONNECT back until
   * they are acknowledged, and the outbox re-sends whatever was not.
   */
  async stop(offline: { topic: string; payload: string }): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.generation++;
    if (client && this.phase === 'online') {
      // mqtt.js emits 'outgoingEmpty' only once end() has begun, so watch the acks ourselves.
      await this.within(drained(client), false, 1000);
      // Only if the session's will is that very announcement; otherwise say it ourselves.
      const will = client.options.will;
      const willIsOffline = !!will && will.topic === offline.topic && Buffer.from(will.payload).toString() === offline.payload;
      if (!willIsOffline) {
        await this.within(client.publishAsync(offline.topic, offline.payload, { qos: 1, retain: true }).then(() => true, () => false), false, 2000);
      }
      for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
      const reasonCode = willIsOffline ? DISCONNECT_WITH_WILL : 0;
      const closed = await this.within(client.endAsync(false, { reasonCode }).then(() => true, () => false), false, 2000);
      // A broker that does not close its side (stalled): the DISCONNECT is written, drop the socket.
      if (!closed) client.stream.destroy();
    } else if (client) {
      await client.endAsync(true).catch(() => undefined);
    }
    this.setPhase('stopped');
  }

  /**
   * `p`, or `fallback` after `ms` (shutdown must not hang on a dead link). Real time, not the
   * injected clock: this bounds a socket's I/O, which a test's frozen clock does not drive.
   */
  private async within<T>(p: Promise<T>, fallback: T, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
    } finally {
      clearTimeout(timer);
    }
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
      // mqtt-packet's parser errors (a malformed packet: "Invalid header flag bits…") carry no
      // code, and mqtt.js keeps the connection open after them; the parser then drops what it
      // had buffered and reads the next chunk from an arbitrary byte, so the stream never gets
      // back in step. Close it now and reconnect, instead of waiting for the keepalive.
      if ((err as { code?: unknown }).code === undefined) this.drop(`protocol error: ${describe(err)}`);
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
    // reconnect-delay: a lost session (likely the broker dropped the whole fleet) is spread over 30 s.
    this.scheduleRetry(wasConnected ? 'lost' : 'failed');
  }

  private scheduleRetry(cause: ReconnectCause = 'failed'): void {
    if (this.stopped) return;
    const delay = reconnectDelay(this.attempt, cause);
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
  // A broker certificate "not yet valid" in 1970 is the clock's fault, not the broker's: say so.
  return withClockHint(`${code}${err.message}`.slice(0, 300));
}

/** Resolves once every in-flight QoS 1 publish of `client` is acknowledged (or at once if none is). */
function drained(client: MqttClient): Promise<boolean> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (Object.keys(client.outgoing).length > 0) return;
      client.off('packetreceive', later);
      client.off('close', check);
      resolve(true);
    };
    // 'packetreceive' fires before mqtt.js handles the packet: look once the ack is processed.
    const later = (): void => void setImmediate(check);
    client.on('packetreceive', later);
    client.on('close', check);
    check();
  });
}
