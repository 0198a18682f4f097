import { promises as fs } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import type { LensName } from '../../board/schema.js';
import type { CommandResult } from '../commands/registry.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { errorMessage } from '../core/errors.js';
import { redactDeep } from '../core/redact.js';
import type { DetectionPicture } from '../domain/episode.js';
import type { Context, Service } from '../supervisor/service.js';
import { bridgeTopics, discoveryDocs, pictureTopic } from './discovery.js';

/** A picture bigger than this is not published (the broker's packet limit; HA keeps it in memory). */
export const MAX_PICTURE_BYTES = 512 * 1024;
const LENSES: readonly LensName[] = ['wide', 'ptz'];
/** Bridge commands (alarm, snapshot) running at once; more get `busy`. */
const MAX_BRIDGE_COMMANDS = 4;
/** Settings that change what the discovery documents say. */
const AFFECTS = ['homeassistant', 'device.name', 'ptz.presets', 'lenses'];

/**
 * Home Assistant MQTT discovery and pictures as pictures (README "Home Assistant"), over the
 * cloud's one session (ctx.ports.mqtt). Off by default; `homeassistant.*` is a local setting.
 *
 * - On every connect and when HA announces itself (`<prefix>/status` = `online`, its birth
 *   message) the configs are published, retained; a settings change re-publishes them.
 * - Disabled (or factory reset): every config it ever published is removed (empty retained).
 *   Which ones is kept in `<dataDir>/homeassistant.json`, so a removal the link missed (offline
 *   at the time) happens at the next connect, and a preset deleted meanwhile loses its button.
 * - Pictures: each detection start's picture and every snapshot asked through the bridge go out
 *   raw on `<base>/snapshot/<lens>`, QoS 0 (a lost picture is replaced by the next; QoS 1 would
 *   hold up to 512 KiB per picture in flight for nothing), not retained unless
 *   `homeassistant.retainPictures`.
 */
export class HomeAssistantService implements Service {
  readonly name = 'homeassistant';
  private readonly log: Logger;
  private readonly cleanups: (() => void)[] = [];
  private readonly subs: (() => void)[] = [];
  private published = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private bridgeActive = 0;
  private subscribedPrefix: string | undefined;
  private readonly file: string;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('homeassistant');
    this.file = join(ctx.paths.dataDir, 'homeassistant.json');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const port = ctx.ports.mqtt;
    if (!port) {
      this.log.warn('no cloud link (no identity): Home Assistant discovery not available');
      return;
    }
    this.published = await this.loadPublished();
    ctx.factoryReset.register(this, 'homeassistant-discovery', () => this.queue(() => this.removeAll()));
    this.cleanups.push(
      port.onConnect(() => this.queue(() => this.sync())),
      ctx.config.onChange(this, (_c, paths) => {
        if (paths.some((p) => AFFECTS.some((a) => p === a || p.startsWith(`${a}.`)))) void this.queue(() => this.sync());
      }),
      // The typed picture of each start (detect/cloud-record.ts), not the cloud's record of it.
      ctx.bus.on(this, 'detection.picture', (p) => this.onPicture(p)),
    );
    if (port.connected) void this.queue(() => this.sync());
  }

  async stop(): Promise<void> {
    for (const c of this.cleanups.splice(0)) c();
    for (const u of this.subs.splice(0)) u();
    await this.chain;
  }

  /** One sync at a time, in order: an enable followed by a disable ends disabled. */
  private queue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work).catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'discovery update failed'));
    this.chain = next;
    return next;
  }

  private get enabled(): boolean {
    return this.ctx.config.get().homeassistant.enabled;
  }

  private async sync(): Promise<void> {
    const port = this.ctx.ports.mqtt;
    if (!port?.connected) return;
    if (!this.enabled) {
      for (const u of this.subs.splice(0)) u();
      await this.removeAll();
      return;
    }
    // A changed prefix moves HA's status topic: subscribe again there.
    const prefix = this.ctx.config.get().homeassistant.discoveryPrefix;
    if (this.subs.length > 0 && this.subscribedPrefix !== prefix) for (const u of this.subs.splice(0)) u();
    if (this.subs.length === 0) this.subscribe(prefix);
    await this.publishAll();
  }

  private subscribe(prefix: string): void {
    const port = this.ctx.ports.mqtt!;
    this.subscribedPrefix = prefix;
    const bridge = bridgeTopics(port.baseTopic, LENSES);
    this.subs.push(
      port.subscribe(
        `${prefix}/status`,
        (m) => {
          // A retained birth (replayed on subscribe) is the one the connect already answered.
          if (!m.retain && m.payload.toString('utf8').trim() === 'online') void this.queue(() => this.publishAll());
        },
        // HA may be set to publish its birth retained: live, it must still count.
        { retainAsPublished: false },
      ),
      port.subscribe(bridge.alarm, (m) => {
        if (m.retain) return; // never run a retained action (as cmd/<name>): it would replay on every connect
        const word = m.payload.toString('utf8').trim().toUpperCase();
        if (word === 'ON' || word === 'OFF') void this.bridgeCommand(m.topic, word === 'ON' ? 'alarm.start' : 'alarm.stop', {});
        else void this.reply(m.topic, { ok: false, error: { code: 'invalid_args', message: 'payload must be ON or OFF' } });
      }),
      ...LENSES.map((lens) =>
        port.subscribe(bridge.snapshot[lens]!, (m) => {
          if (!m.retain) void this.bridgeSnapshot(m.topic, lens);
        }),
      ),
    );
  }

  private async publishAll(): Promise<void> {
    const port = this.ctx.ports.mqtt;
    if (!port?.connected || !this.enabled) return;
    const { ctx } = this;
    const cfg = ctx.config.get();
    const profiles = Object.fromEntries(LENSES.map((l) => [l, { names: Object.keys(ctx.board.video[l].profiles), defaultProfile: ctx.board.video[l].defaultProfile }]));
    const docs = discoveryDocs({
      prefix: cfg.homeassistant.discoveryPrefix,
      base: port.baseTopic,
      serial: port.serial,
      model: port.model,
      deviceName: cfg.device.name,
      swVersion: ctx.state.get().release?.version ?? 'unknown',
      lenses: LENSES,
      profiles,
      presets: cfg.ptz.presets.map((p) => p.name),
    });
    const wanted = new Set(docs.map((d) => d.topic));
    // Remember first: a crash mid-way still knows what may be on the broker.
    await this.savePublished(new Set([...this.published, ...wanted]));
    let bytes = 0;
    for (const d of docs) {
      const payload = JSON.stringify(d.config);
      bytes += Buffer.byteLength(d.topic) + Buffer.byteLength(payload);
      await port.publish(d.topic, payload, { qos: 1, retain: true });
    }
    for (const t of [...this.published]) if (!wanted.has(t)) await this.remove(t);
    await this.savePublished(wanted);
    this.log.info({ configs: docs.length, bytes }, 'Home Assistant discovery published');
  }

  private async removeAll(): Promise<void> {
    const port = this.ctx.ports.mqtt;
    if (this.published.size === 0) return;
    if (!port?.connected) {
      this.log.warn({ configs: this.published.size }, 'Home Assistant configs not removed yet: offline (removed at the next connect)');
      return;
    }
    const n = this.published.size;
    for (const t of [...this.published]) await this.remove(t);
    await this.savePublished(new Set());
    this.log.info({ configs: n }, 'Home Assistant discovery removed');
  }

  private async remove(topic: string): Promise<void> {
    try {
      await this.ctx.ports.mqtt!.publish(topic, '', { qos: 1, retain: true });
      this.published.delete(topic);
    } catch (err) {
      // A prefix changed before this boot is outside the port's space now: nothing to do.
      this.log.warn({ topic, err: errorMessage(err) }, 'Home Assistant config not removed');
      if ((err as { code?: string }).code === 'forbidden') this.published.delete(topic);
      else throw err;
    }
  }

  private async loadPublished(): Promise<Set<string>> {
    try {
      const doc = JSON.parse(await fs.readFile(this.file, 'utf8')) as { topics?: unknown };
      return new Set(Array.isArray(doc.topics) ? doc.topics.filter((t): t is string => typeof t === 'string') : []);
    } catch {
      return new Set();
    }
  }

  private async savePublished(topics: Set<string>): Promise<void> {
    this.published = topics;
    if (topics.size === 0) await fs.rm(this.file, { force: true });
    else await writeFileAtomic(this.file, JSON.stringify({ topics: [...topics] }), 0o600);
  }

  /** Runs a command through the table as the cloud would (same validation, same trust), replying on `<topic>/reply`. */
  private async bridgeCommand(topic: string, name: string, args: Record<string, unknown>): Promise<unknown> {
    // As the command router bounds cloud commands: a flood of presses cannot pile up snapshots.
    if (this.bridgeActive >= MAX_BRIDGE_COMMANDS) {
      await this.reply(topic, { ok: false, error: { code: 'busy', message: `${this.bridgeActive} bridge commands are already running; retry later` } });
      return undefined;
    }
    this.bridgeActive++;
    let res: CommandResult;
    try {
      res = await this.ctx.commands.execute(name, args, { source: 'cloud' });
    } finally {
      this.bridgeActive--;
    }
    // Only ok/error: a snapshot's base64 belongs on the picture topic, not in a JSON reply.
    await this.reply(topic, res.ok ? { ok: true } : res);
    return res.ok ? res.result : undefined;
  }

  private async reply(topic: string, body: unknown): Promise<void> {
    await this.ctx.ports.mqtt?.publish(`${topic}/reply`, JSON.stringify(redactDeep(body)), { qos: 1, retain: false }).catch((err: unknown) => this.log.warn({ topic, err: errorMessage(err) }, 'bridge reply not sent'));
  }

  private async bridgeSnapshot(topic: string, lens: LensName): Promise<void> {
    const result = (await this.bridgeCommand(topic, 'snapshot', { lens, inline: true })) as { jpeg?: string } | undefined;
    if (result?.jpeg) await this.publishPicture(lens, Buffer.from(result.jpeg, 'base64'));
  }

  private async onPicture(p: DetectionPicture): Promise<void> {
    const port = this.ctx.ports.mqtt;
    if (!this.enabled || !port?.connected) return;
    try {
      let jpeg: Buffer | undefined;
      if (p.jpeg !== undefined) jpeg = Buffer.from(p.jpeg, 'base64');
      else if (p.path !== undefined) {
        const mount = resolve(this.ctx.paths.cardMount);
        const file = resolve(mount, p.path);
        if (!file.startsWith(mount + sep)) return; // only files on the card
        const st = await fs.stat(file);
        if (st.size > MAX_PICTURE_BYTES) return this.tooLarge(p.lens, st.size);
        jpeg = await fs.readFile(file);
      }
      if (jpeg) await this.publishPicture(p.lens, jpeg);
    } catch (err) {
      this.log.warn({ episodeId: p.episodeId, lens: p.lens, err: errorMessage(err) }, 'detection picture not published');
    }
  }

  private tooLarge(lens: LensName, bytes: number): void {
    this.log.warn({ lens, bytes, max: MAX_PICTURE_BYTES }, 'picture too large to publish');
  }

  private async publishPicture(lens: LensName, jpeg: Buffer): Promise<void> {
    const port = this.ctx.ports.mqtt;
    if (!port?.connected || !this.enabled) return;
    if (jpeg.length > MAX_PICTURE_BYTES) return this.tooLarge(lens, jpeg.length);
    await port.publish(pictureTopic(port.baseTopic, lens), jpeg, { qos: 0, retain: this.ctx.config.get().homeassistant.retainPictures });
  }
}

export const homeassistantService = (ctx: Context): Service => new HomeAssistantService(ctx);
