import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import { loadIdentity, type Identity } from '../identity/identity.js';
import type { Context, Service } from '../supervisor/service.js';
import { registerCloudCommands } from './commands.js';
import { CommandRouter } from './command-router.js';
import { planConnection, redactUrl } from './connect-plan.js';
import { EventPump } from './event-pump.js';
import type { InboundMessage } from './inbound.js';
import { Outbox } from './outbox/outbox.js';
import type { OutRecord } from './outbox/record.js';
import { Reachability } from './reachability.js';
import type { CloudHealth } from './schema.js';
import { Session } from './session.js';
import { MqttPortImpl } from './mqtt-port.js';
import { SettingsSync } from './settings-sync.js';
import { redactDeep } from '../core/redact.js';
import { StatePublisher } from './state-publisher.js';
import { TelemetryPublisher } from './telemetry-publisher.js';
import { Throttle } from './throttle.js';
import { topicsFor, type Topics } from './topics.js';

declare module '../state/store.js' {
  interface CamState {
    /** The cloud link: session health and the event outbox (owned by src/cloud). */
    cloud?: CloudHealth;
  }
}

declare module '../state/bus.js' {
  interface BusEvents {
    /** An event reached the broker (PUBACK): `ts` is the event's own time. */
    'cloud.event.delivered': { id: string; seq: number; ts: number };
  }
}

const OUTBOX_FAULT = 'cloud.outbox';

/**
 * The camera's public interface: one MQTT session to the cloud (see README.md, "Cloud interface (MQTT)"). Wires the
 * session, the persistent outbox, the state publisher, the command router and settings sync;
 * each of those is its own small module.
 */
export class CloudService implements Service {
  readonly name = 'cloud';
  private readonly log: Logger;
  private identity!: Identity;
  private topics!: Topics;
  private outbox!: Outbox;
  private session!: Session;
  private pump: EventPump | undefined;
  private statePublisher!: StatePublisher;
  private telemetry!: TelemetryPublisher;
  private settings!: SettingsSync;
  private router!: CommandRouter;
  private reach!: Reachability;
  private health!: Throttle;
  private lastPubackAt: number | undefined;
  /** ctx.ports.mqtt (mqtt-port.ts): the session fenced to the device's topic space. */
  private port: MqttPortImpl | undefined;
  private readonly cleanups: (() => void)[] = [];

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('cloud');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const cfg = ctx.config.get().cloud;
    this.identity = await loadIdentity(ctx.board);
    this.topics = topicsFor(cfg.topicPrefix, this.identity.serial);
    this.health = new Throttle(ctx.clock, 250, () => this.publishHealth(), (err) => this.log.error({ err: errorMessage(err) }, 'cloud health update failed'));

    this.outbox = new Outbox({ dir: join(ctx.paths.dataDir, 'outbox'), maxBytes: cfg.outboxMaxBytes, clock: ctx.clock, log: ctx.log('outbox') });
    await this.outbox.open();
    ctx.factoryReset.register(this, 'cloud-outbox', () => this.outbox.erase());
    this.cleanups.push(
      ctx.bus.on(this, 'camera.event', (ev) => {
        // Events leave the device: one redaction for every secret a URL could carry (src/core/redact.ts).
        this.outbox.append(redactDeep(ev)).catch((err: unknown) => this.log.error({ id: ev.id, type: ev.type, err: errorMessage(err) }, 'event not queued'));
        this.health.trigger();
      }),
      this.outbox.onDurable(() => {
        this.pump?.kick();
        this.health.trigger();
      }),
      ctx.config.onChange(this, (config, paths) => {
        if (paths.includes('cloud.outboxMaxBytes')) this.outbox.setMaxBytes(config.cloud.outboxMaxBytes);
        if (paths.includes('network.offlineGraceSeconds')) this.reach.regrace();
      }),
    );
    registerCloudCommands(this, ctx, { identity: this.identity, topics: this.topics, outbox: this.outbox });

    this.session = new Session(ctx.clock, this.log, {
      plan: () => planConnection(ctx.config.get().cloud, ctx.secrets.get().mqtt, this.identity.serial, this.topics),
      connected: () => this.onConnected(),
      disconnected: () => this.onDisconnected(),
      message: (msg) => this.onMessage(msg),
      changed: () => {
        if (this.session.phase === 'refused') this.reach.refused();
        // Link changes are rare and matter (LED, camctl status): shown at once, not coalesced.
        this.publishHealth();
      },
    });
    const connected = (): boolean => this.session.connected;
    this.statePublisher = new StatePublisher({
      clock: ctx.clock,
      state: ctx.state,
      info: { serial: this.identity.serial, model: this.identity.model, board: ctx.board.name },
      log: this.log,
      connected,
      publish: (payload) => this.session.publish(this.topics.state, payload, { qos: 1, retain: true }),
    });
    // telemetry: counters and readings, split off the state (README "State and telemetry").
    // QoS 0: a lost reading is replaced by the next; retained: a new subscriber sees the latest at once.
    this.telemetry = new TelemetryPublisher({
      clock: ctx.clock,
      state: ctx.state,
      config: ctx.config,
      info: { serial: this.identity.serial, model: this.identity.model, board: ctx.board.name },
      log: this.log,
      connected,
      publish: (payload) => this.session.publish(this.topics.telemetry, payload, { qos: 0, retain: true }),
    });
    this.settings = new SettingsSync({
      clock: ctx.clock,
      config: ctx.config,
      commands: ctx.commands,
      log: this.log,
      connected,
      publish: (payload) => this.session.publish(this.topics.configReported, payload, { qos: 1, retain: true }),
    });
    this.router = new CommandRouter({
      topics: this.topics,
      commands: ctx.commands,
      log: this.log,
      reply: (topic, payload, correlationData) =>
        this.session.publish(topic, payload, { qos: 1, retain: false, properties: { contentType: 'application/json', ...(correlationData && { correlationData }) } }),
    });
    this.reach = new Reachability({
      clock: ctx.clock,
      state: ctx.state,
      graceMs: () => ctx.config.get().network.offlineGraceSeconds * 1000,
      describe: () => `cloud broker ${redactUrl(ctx.config.get().cloud.url)} unreachable${this.session.lastError ? `: ${this.session.lastError}` : ''}`,
    });
    this.port = new MqttPortImpl({ topics: this.topics, serial: this.identity.serial, model: this.identity.model, session: this.session, log: this.log, discoveryPrefix: () => ctx.config.get().homeassistant.discoveryPrefix });
    ctx.ports.mqtt = this.port;
    this.statePublisher.start();
    this.telemetry.start();
    this.settings.start();
    this.reach.offline();
    this.session.start();
    this.health.trigger();
  }

  async stop(): Promise<void> {
    for (const c of this.cleanups.splice(0)) c();
    if (this.ctx.ports.mqtt === this.port) delete this.ctx.ports.mqtt;
    this.port?.clear();
    this.statePublisher?.stop();
    this.telemetry?.stop();
    this.settings?.stop();
    this.pump?.stop();
    this.pump = undefined;
    await this.session?.stop({ topic: this.topics.availability, payload: 'offline' });
    await this.outbox?.close();
    this.reach?.stop();
    if (this.health) {
      this.health.stop();
      if (this.outbox && this.session) this.publishHealth();
    }
  }

  private async onConnected(): Promise<void> {
    const { topics, session } = this;
    this.reach.online();
    await session.publish(topics.availability, 'online', { qos: 1, retain: true });
    const grants = await session.subscribe([topics.commandFilter, topics.configDesired]);
    const refused = grants.filter((g) => g.qos >= 0x80).map((g) => g.topic);
    if (refused.length) {
      // The broker's ACL does not match this device: commands cannot arrive. Visible, not fatal.
      session.lastError = `subscription refused by the broker: ${refused.join(', ')}`;
      this.log.error({ refused }, 'subscription refused by the broker');
    }
    await this.statePublisher.publishNow();
    await this.telemetry.publishNow();
    await this.settings.publishNow();
    this.pump = new EventPump({
      outbox: this.outbox,
      window: session.eventWindow,
      publish: (rec) => session.publish(topics.events, rec.payload, { qos: 1, retain: false }),
      onAck: (rec) => this.delivered(rec),
      onError: (err, rec) => {
        this.log.error({ seq: rec.seq, err: errorMessage(err) }, 'event publish failed; reconnecting');
        session.drop(`event publish failed: ${errorMessage(err)}`);
      },
    });
    this.pump.kick();
    this.publishHealth();
    await this.port?.afterConnect();
  }

  private onDisconnected(): void {
    this.pump?.stop();
    this.pump = undefined;
    void this.outbox.rewind();
    this.reach.offline();
    this.publishHealth();
  }

  private onMessage(msg: InboundMessage): void {
    if (this.port?.dispatch(msg)) return;
    const work = msg.topic === this.topics.configDesired ? this.settings.handleDesired(msg) : this.router.handle(msg);
    work.catch((err: unknown) => this.log.error({ topic: msg.topic, err: errorMessage(err) }, 'inbound message handling failed'));
  }

  private delivered(rec: OutRecord): void {
    this.lastPubackAt = this.ctx.clock.now();
    // The payload starts with {"id":"…" (record.ts writes id first): no parse per event.
    const id = rec.payload.slice(7, rec.payload.indexOf('"', 7));
    this.ctx.bus.emit('cloud.event.delivered', { id, seq: rec.seq, ts: rec.ts });
    this.health.trigger();
  }

  private publishHealth(): void {
    const { session, ctx } = this;
    const stats = this.outbox.stats();
    const health: CloudHealth = {
      link: session.phase,
      connected: session.connected,
      broker: redactUrl(ctx.config.get().cloud.url),
      baseTopic: this.topics.base,
      since: session.since,
      attempt: session.attempt,
      ...(session.lastConnectedAt !== undefined && { lastConnectedAt: session.lastConnectedAt }),
      ...(session.lastError !== undefined && { lastError: session.lastError }),
      ...(session.nextRetryAt !== undefined && session.phase === 'offline' && { nextRetryAt: session.nextRetryAt }),
      ...(this.lastPubackAt !== undefined && { lastPubackAt: this.lastPubackAt }),
      outbox: stats,
    };
    ctx.state.set('cloud', health);
    if (stats.writeError) {
      ctx.state.raiseFault(OUTBOX_FAULT, { kind: 'camera', component: 'cloud', message: `event outbox cannot be written: ${stats.writeError}` }, ctx.clock.now());
    } else ctx.state.clearFault(OUTBOX_FAULT);
  }
}

export const cloudService = (ctx: Context): Service => new CloudService(ctx);
