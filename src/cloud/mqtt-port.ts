import type { Logger } from 'pino';
import { CamdError, errorMessage } from '../core/errors.js';
import type { InboundMessage } from './inbound.js';
import type { Topics } from './topics.js';

/** A message delivered to a port subscriber. */
export interface MqttPortMessage {
  topic: string;
  payload: Buffer;
  /** Replayed from the broker's retained store (or published retained). */
  retain: boolean;
}

export interface MqttPublishOptions {
  qos: 0 | 1;
  retain: boolean;
}

export interface MqttSubscribeOptions {
  /**
   * Retain as published (default true): a message published retained is seen retained even when
   * forwarded live, so a handler that runs actions can refuse every retained one (as the command
   * router does: a retained action would replay on every connect). False for a status a third
   * party may publish retained *and* live that must count when live (HA's birth message): the
   * broker then clears the flag on live delivery, and only the replay on subscribe is marked retained.
   */
  retainAsPublished?: boolean;
}

/**
 * What the cloud service offers other services through `ctx.ports.mqtt`: the one MQTT session,
 * limited to the device's own topic space. Home Assistant discovery (src/homeassistant) publishes
 * its configs and pictures through this, so there is still exactly one connection, one client id
 * and one will, and the link's flow control (Receive Maximum) covers these publishes too.
 */
export interface MqttPort {
  /** The session is up now (a publish while offline rejects with `unavailable`). */
  readonly connected: boolean;
  /** `<cloud.topicPrefix>/<serial>`. */
  readonly baseTopic: string;
  readonly serial: string;
  readonly model: string;
  /** The device's own availability topic (`online`/`offline`, retained, the will). */
  readonly availabilityTopic: string;
  readonly stateTopic: string;
  readonly telemetryTopic: string;
  readonly eventsTopic: string;
  readonly configReportedTopic: string;
  /** `<base>/cmd/<name>`: where a command is sent (for documents that tell others how to command the camera). */
  commandTopic(name: string): string;
  /** Resolves on PUBACK (QoS 1) or when written (QoS 0); refused topics reject with `forbidden`. */
  publish(topic: string, payload: string | Buffer, opts: MqttPublishOptions): Promise<void>;
  /**
   * Subscribes now (if connected) and again after every reconnect (the session is clean); the
   * handler sees only messages matching `filter`. Returns the unsubscribe.
   */
  subscribe(filter: string, handler: (msg: MqttPortMessage) => void, opts?: MqttSubscribeOptions): () => void;
  /** Called after every (re)connect, once the cloud's own announcements are out. Returns the removal. */
  onConnect(hook: () => Promise<void> | void): () => void;
}

declare module '../supervisor/service.js' {
  interface Ports {
    /** Set while the cloud service runs (its identity is known). */
    mqtt?: MqttPort;
  }
}

/** What the port needs of the session (session.ts). */
export interface PortSession {
  readonly connected: boolean;
  publish(topic: string, payload: string | Buffer, opts: MqttPublishOptions): Promise<void>;
  subscribe(filters: string[], opts?: { rap?: boolean }): Promise<{ topic: string; qos: number }[]>;
  unsubscribe(filters: string[]): Promise<void>;
}

/** Sub-topics of the base the cloud service itself owns: nobody else may publish or subscribe there. */
const CLOUD_OWNED = ['availability', 'state', 'telemetry', 'events', 'cmd', 'config', 'reply'];

/**
 * Why the port is fenced: the cloud link's topic space is the device's public contract (README
 * "Cloud interface (MQTT)"), and the production broker's ACL grants the device only its own
 * subtree. A feature may add topics under `<base>/` (never the ones the cloud service owns: a
 * publish on `cmd/…` would be run as a cloud command, one on `state` or `events` would forge the
 * contract's documents) and under the configured discovery prefix, nothing else — so no feature
 * can make the camera publish into another device's or application's topics.
 */
export class MqttPortImpl implements MqttPort {
  private readonly subs = new Map<number, { filter: string; rap: boolean; handler: (m: MqttPortMessage) => void }>();
  private readonly hooks = new Set<() => Promise<void> | void>();
  private seq = 0;
  /** Discovery prefixes configured since boot: a changed prefix may still have its old configs removed. */
  private readonly prefixes = new Set<string>();

  constructor(
    private readonly o: { topics: Topics; serial: string; model: string; session: PortSession; log: Logger; discoveryPrefix: () => string },
  ) {
    this.prefixes.add(o.discoveryPrefix());
  }

  get connected(): boolean {
    return this.o.session.connected;
  }
  get baseTopic(): string {
    return this.o.topics.base;
  }
  get serial(): string {
    return this.o.serial;
  }
  get model(): string {
    return this.o.model;
  }
  get availabilityTopic(): string {
    return this.o.topics.availability;
  }
  get stateTopic(): string {
    return this.o.topics.state;
  }
  get telemetryTopic(): string {
    return this.o.topics.telemetry;
  }
  get eventsTopic(): string {
    return this.o.topics.events;
  }
  get configReportedTopic(): string {
    return this.o.topics.configReported;
  }
  commandTopic(name: string): string {
    return `${this.o.topics.base}/cmd/${name}`;
  }

  /** Whether a topic (or a filter: wildcards only after the fixed root) lies in the allowed space. */
  allowed(topic: string): boolean {
    if (topic.length === 0 || Buffer.byteLength(topic) > 1024 || topic.includes('\u0000')) return false;
    this.prefixes.add(this.o.discoveryPrefix());
    const base = `${this.o.topics.base}/`;
    if (topic.startsWith(base)) {
      const first = topic.slice(base.length).split('/')[0]!;
      return first.length > 0 && !first.includes('+') && !first.includes('#') && !CLOUD_OWNED.includes(first);
    }
    for (const p of this.prefixes) {
      const root = `${p}/`;
      if (topic.startsWith(root) && topic.length > root.length && !topic.slice(root.length).startsWith('#')) return true;
    }
    return false;
  }

  async publish(topic: string, payload: string | Buffer, opts: MqttPublishOptions): Promise<void> {
    if (/[+#]/.test(topic) || !this.allowed(topic)) throw new CamdError('forbidden', `topic ${topic} is outside the device's topic space (${this.o.topics.base}/… and the discovery prefix)`);
    if (!this.o.session.connected) throw new CamdError('unavailable', 'the cloud link is not connected');
    await this.o.session.publish(topic, payload, opts);
  }

  subscribe(filter: string, handler: (msg: MqttPortMessage) => void, opts: MqttSubscribeOptions = {}): () => void {
    if (!this.allowed(filter)) throw new CamdError('forbidden', `filter ${filter} is outside the device's topic space`);
    const rap = opts.retainAsPublished ?? true;
    // One filter, one subscription on the session: two different flags for it would overwrite each other.
    const other = [...this.subs.values()].find((s) => s.filter === filter && s.rap !== rap);
    if (other) throw new CamdError('invalid_args', `filter ${filter} is already subscribed with retainAsPublished=${other.rap}`);
    const id = ++this.seq;
    this.subs.set(id, { filter, rap, handler });
    if (this.connected) void this.sendSubscribe([filter], rap);
    return () => {
      if (!this.subs.delete(id)) return;
      const stillUsed = [...this.subs.values()].some((s) => s.filter === filter);
      if (!stillUsed && this.connected) this.o.session.unsubscribe([filter]).catch((err: unknown) => this.o.log.warn({ filter, err: errorMessage(err) }, 'port unsubscribe failed'));
    };
  }

  onConnect(hook: () => Promise<void> | void): () => void {
    this.hooks.add(hook);
    return () => void this.hooks.delete(hook);
  }

  /** After the cloud's own connect sequence: the port's subscriptions again, then the hooks. */
  async afterConnect(): Promise<void> {
    for (const rap of [true, false]) {
      const filters = [...new Set([...this.subs.values()].filter((s) => s.rap === rap).map((s) => s.filter))];
      if (filters.length) await this.sendSubscribe(filters, rap);
    }
    for (const hook of [...this.hooks]) {
      try {
        await hook();
      } catch (err) {
        this.o.log.error({ err: errorMessage(err) }, 'mqtt port connect hook failed');
      }
    }
  }

  /** Hands an inbound message to matching port subscribers; true when one took it. */
  dispatch(msg: InboundMessage): boolean {
    let taken = false;
    for (const s of [...this.subs.values()]) {
      if (!matches(s.filter, msg.topic)) continue;
      taken = true;
      try {
        s.handler({ topic: msg.topic, payload: msg.payload, retain: msg.retain });
      } catch (err) {
        this.o.log.error({ topic: msg.topic, err: errorMessage(err) }, 'mqtt port subscriber failed');
      }
    }
    return taken;
  }

  clear(): void {
    this.subs.clear();
    this.hooks.clear();
  }

  private async sendSubscribe(filters: string[], rap: boolean): Promise<void> {
    try {
      const grants = await this.o.session.subscribe(filters, { rap });
      const refused = grants.filter((g) => g.qos >= 0x80).map((g) => g.topic);
      if (refused.length) this.o.log.warn({ refused }, 'port subscription refused by the broker');
    } catch (err) {
      this.o.log.warn({ filters, err: errorMessage(err) }, 'port subscription failed');
    }
  }
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
