import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LENSES } from '../../board/schema.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { redactText } from '../core/redact.js';
import { microphone } from '../capture/mic.js';
import { relayPath } from '../capture/relay.js';
import type { LensName } from '../capture/types.js';
import type { CommandMeta } from '../commands/registry.js';
import { OnceRunner } from '../supervisor/runner.js';
import type { Context, Service } from '../supervisor/service.js';
import { sleepGate } from '../state/sleep-gate.js';
import { pushArgs, type Profile, type Speaker } from './args.js';
import { LivePush, type EndReason } from './push.js';
import { Talk } from './talk.js';
import { MediaCa } from './tls.js';
import type { LiveSessionState } from './types.js';
import { checkMediaUrl, type MediaTarget, type MediaUse } from './url-policy.js';
import '../capture/types.js';
import './types.js';

const Lens = z.enum(LENSES);
const MAX_SESSIONS = 2;

interface Session {
  info: LiveSessionState;
  target: MediaTarget;
  audio: boolean;
  push: LivePush;
}

/**
 * Live view: pushes of one lens ("play mono") or both ("play sync") to a URL the cloud gives,
 * the quality profile per lens, and talk (the app's audio on the speaker). While a push runs,
 * state.liveViewers counts it (LED solid blue); a push ends cleanly when the viewer leaves or the
 * URL dies (ffmpeg exits), when frames stop moving, on live.stop and in sleep mode.
 * The microphone goes out with the push only.
 */
export class LiveService implements Service {
  readonly name = 'live';
  private readonly sessions = new Map<string, Session>();
  private talk: Talk | undefined;
  private readonly procs: OnceRunner;
  private readonly unsubs: (() => void)[] = [];
  private readonly log: Logger;
  private readonly ca: MediaCa;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('live');
    this.procs = new OnceRunner({ log: this.log, clock: ctx.clock, state: ctx.state });
    this.ca = new MediaCa(ctx.paths.runDir);
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.registerCommands();
    this.unsubs.push(
      ctx.state.subscribe(this, (s, changed) => {
        if (changed.has('sleeping') && s.sleeping) void this.endAll('sleep');
        if (changed.has('alarm')) void this.sirenChanged(!!s.alarm?.siren);
      }),
      ctx.config.onChange(this, (_c, paths) => {
        for (const lens of LENSES) if (paths.includes(`lenses.${lens}.quality`)) void this.requalify(lens);
      }),
    );
    this.publish();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubs.splice(0)) u();
    await this.endAll('stopped');
    await this.procs.stopAll();
    this.publish();
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'live.start',
      access: 'cloud',
      summary: 'push one lens (mono) or both (sync) to an rtmps://, srt:// (rtmp://, rtsp:// where allowed) URL; answers once video is leaving',
      args: z
        .object({
          lenses: z.array(Lens).min(1).max(2).refine((l) => new Set(l).size === l.length, 'a lens may be listed once'),
          url: z.string().min(1).max(2048),
          audio: z.boolean().default(true).describe('send the microphone with the video'),
        })
        .strict(),
      handler: async ({ lenses, url, audio }, meta) => this.startSession(lenses, await this.checkUrl(url, 'push', meta), audio),
    });
    ctx.commands.register(this, {
      name: 'live.stop',
      access: 'cloud',
      summary: 'stop one live push (by id) or all of them',
      args: z.object({ id: z.string().max(64).optional() }).strict(),
      handler: async ({ id }) => {
        if (id && !this.sessions.has(id)) throw new CamdError('not_found', `no live push ${id}`, 'id');
        const ids = id ? [id] : [...this.sessions.keys()];
        await Promise.all(
          ids.map(async (i) => {
            await this.sessions.get(i)?.push.stop('stopped');
          }),
        );
        return { stopped: ids };
      },
    });
    ctx.commands.register(this, {
      name: 'quality.set',
      access: 'cloud',
      summary: 'the live-view quality profile of a lens (profiles from the board file)',
      args: z.object({ lens: Lens, profile: z.string().min(1).max(32) }).strict(),
      handler: async ({ lens, profile }) => {
        const def = ctx.board.video[lens];
        const p = def.profiles[profile];
        if (!p) throw new CamdError('invalid_args', `profile "${profile}" is not one of ${Object.keys(def.profiles).join(', ')} for the ${lens} lens`, 'profile');
        await ctx.config.patch({ lenses: { [lens]: { quality: profile } } }, 'quality.set');
        return { lens, profile, ...p };
      },
    });
    ctx.commands.register(this, {
      name: 'talk.start',
      access: 'cloud',
      summary: 'play the app\'s audio (a URL) on the speaker until it ends or talk.stop; answers once it plays; the siren wins while it sounds',
      args: z.object({ url: z.string().min(1).max(2048) }).strict(),
      handler: (args, meta) => this.startTalk(args.url, meta),
    });
    ctx.commands.register(this, {
      name: 'talk.stop',
      access: 'cloud',
      summary: 'stop talk playback',
      args: z.object({}).strict(),
      handler: async () => {
        const was = !!this.talk;
        await this.endTalk('stopped');
        return { stopped: was };
      },
    });
  }

  private profileOf(lens: LensName): { name: string; profile: Profile } {
    const def = this.ctx.board.video[lens];
    const chosen = this.ctx.config.get().lenses[lens].quality;
    const name = chosen && def.profiles[chosen] ? chosen : def.defaultProfile;
    return { name, profile: def.profiles[name]! };
  }

  /**
   * The media URL policy (url-policy.ts) with the owner's local settings: refusals are
   * `forbidden` naming the rule (the command registry logs them and raises the security event).
   */
  private checkUrl(raw: string, use: MediaUse, meta: CommandMeta): Promise<MediaTarget> {
    const { allowPlaintext, allowLocalTargets } = this.ctx.config.get().live;
    // A local file only for local callers on the sim board (tests, a developer's camctl).
    const allowFile = use === 'talk' && meta.source === 'local' && !!this.ctx.hardware.sim;
    return checkMediaUrl(raw, use, { allowPlaintext, allowLocalTargets, allowFile });
  }

  /** The CA file for a TLS child: the system CAs, plus the owner's `media.caFile` from the secrets. */
  private caFile(): Promise<string | undefined> {
    return this.ca.file(this.ctx.secrets.get().media?.caFile);
  }

  private async startSession(lenses: LensName[], target: MediaTarget, audio: boolean): Promise<unknown> {
    const { ctx } = this;
    // The gate, not only the state flag: sleep counts from the moment it is asked for.
    const asleep = sleepGate(ctx);
    if (asleep.asleep()) throw new CamdError('unavailable', 'the camera is in sleep mode', 'lenses');
    for (const lens of lenses) {
      const st = ctx.state.get().capture?.[lens];
      if (!st || st.status === 'stopped' || st.status === 'sleeping') throw new CamdError('unavailable', `the ${lens} lens is not capturing`, 'lenses');
    }
    if (this.sessions.size >= MAX_SESSIONS) throw new CamdError('busy', `at most ${MAX_SESSIONS} live pushes at a time`, 'url');
    const id = randomUUID();
    const { name, profile } = this.profileOf(lenses[0]!);
    const copy = lenses.length === 1 && name === ctx.board.video[lenses[0]!].defaultProfile;
    const push = await this.spawnPush(id, lenses, target, audio, profile, copy);
    try {
      await push.started;
    } catch (err) {
      await push.stop('stopped');
      this.log.warn({ url: target.redacted, err: redactText(errorMessage(err)) }, 'live push did not start');
      throw err;
    }
    if (asleep.asleep()) {
      // Sleep was asked for while the push was starting (its clean-up ran before this session existed).
      await push.stop('sleep');
      throw new CamdError('unavailable', 'the camera went to sleep mode', 'lenses');
    }
    const info: LiveSessionState = { id, lenses, url: target.redacted, startedAt: ctx.clock.now(), profile: name, copy, audio, frames: push.frames };
    const session: Session = { info, target, audio, push };
    this.sessions.set(id, session);
    this.watch(session);
    this.publish();
    this.event('live.started', { id, lenses, url: info.url, profile: name });
    this.log.info({ id, lenses, url: info.url, profile: name, copy }, 'live push started');
    return info;
  }

  private async spawnPush(id: string, lenses: LensName[], target: MediaTarget, audio: boolean, profile: Profile, copy: boolean): Promise<LivePush> {
    const caFile = target.verifyTls ? await this.caFile() : undefined;
    const mic = audio ? await microphone(this.ctx.board, this.procs) : undefined;
    const args = pushArgs({ inputs: lenses.map((lens) => ({ lens, relay: relayPath(this.ctx.paths.runDir, lens) })), target, caFile, profile, copy, audio: mic });
    return new LivePush(this.procs, args, this.ctx.clock, `live.${id.slice(0, 8)}`);
  }

  /** When the push ends for any reason: forget it, tell the cloud, unless it is being replaced. */
  private watch(s: Session): void {
    const push = s.push;
    void push.ended.then(({ reason, detail }) => {
      if (s.push !== push || reason === 'restart') return;
      this.sessions.delete(s.info.id);
      this.publish();
      // `detail` is ffmpeg's last words, redacted by ffmpegFailure; redacted again for good measure.
      this.event('live.ended', { id: s.info.id, reason, detail: redactText(detail) });
      this.log.info({ id: s.info.id, reason, detail: redactText(detail), frames: push.frames }, 'live push ended');
    });
  }

  /** A new quality for a lens: its running pushes restart with the new profile. */
  private async requalify(lens: LensName): Promise<void> {
    for (const s of [...this.sessions.values()]) {
      if (s.info.lenses[0] !== lens) continue;
      const { name, profile } = this.profileOf(lens);
      const copy = s.info.lenses.length === 1 && name === this.ctx.board.video[lens].defaultProfile;
      const old = s.push;
      await old.stop('restart');
      try {
        s.push = await this.spawnPush(s.info.id, s.info.lenses, s.target, s.audio, profile, copy);
        s.info = { ...s.info, profile: name, copy };
        this.watch(s);
        await s.push.started;
      } catch (err) {
        const why = redactText(errorMessage(err));
        this.log.warn({ id: s.info.id, err: why }, 'live push did not restart with the new quality');
        if (s.push === old) {
          // No new child (the CA file or the microphone failed): the session is over, say so.
          this.sessions.delete(s.info.id);
          this.event('live.ended', { id: s.info.id, reason: 'ended', detail: why });
        }
      }
      this.publish();
    }
  }

  private async endAll(reason: EndReason): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.push.stop(reason)));
    await this.endTalk(reason === 'sleep' ? 'sleep' : 'stopped');
  }

  private async startTalk(rawUrl: string, meta: CommandMeta): Promise<unknown> {
    const { ctx } = this;
    const target = await this.checkUrl(rawUrl, 'talk', meta);
    if (sleepGate(ctx).asleep()) throw new CamdError('unavailable', 'the camera is in sleep mode', 'url');
    const sp = ctx.board.audio.speaker;
    const speaker: Speaker = sp.alsa ? { kind: 'alsa', device: sp.alsa } : { kind: 'wav', file: sp.wavFile! };
    await this.endTalk('replaced');
    const talk = new Talk(target, {
      procs: this.procs,
      speaker,
      volume: () => ctx.config.get().audio.volume,
      clock: ctx.clock,
      log: this.log,
      caFile: () => this.caFile(),
      onEnded: (detail) => {
        if (this.talk !== talk) return;
        this.talk = undefined;
        this.publish();
        this.event('talk.ended', { reason: 'ended', detail: redactText(detail) });
      },
    });
    this.talk = talk;
    if (ctx.state.get().alarm?.siren) talk.suspended = true;
    else {
      try {
        await talk.play();
      } catch (err) {
        // Never played: nothing changes (no talk in the state, no talk events).
        if (this.talk === talk) this.talk = undefined;
        await talk.stop();
        this.log.warn({ url: target.redacted, err: redactText(errorMessage(err)) }, 'talk did not start');
        throw err;
      }
    }
    this.publish();
    this.event('talk.started', { url: talk.redacted, suspended: talk.suspended });
    return { url: talk.redacted, suspended: talk.suspended, pid: talk.pid ?? null };
  }

  private async endTalk(reason: 'stopped' | 'sleep' | 'replaced'): Promise<void> {
    const t = this.talk;
    if (!t) return;
    this.talk = undefined;
    await t.stop();
    this.publish();
    this.event('talk.ended', { reason });
  }

  private async sirenChanged(on: boolean): Promise<void> {
    const t = this.talk;
    if (!t) return;
    if (on && !t.suspended) {
      await t.suspend();
      this.log.info('siren sounds: talk playback suspended');
      this.event('talk.suspended', { reason: 'siren' });
    } else if (!on && t.suspended && this.talk === t) {
      try {
        await t.play();
        this.log.info('siren stopped: talk playback resumed');
        this.event('talk.resumed', {});
      } catch (err) {
        // The stream went away (or its server is no longer accepted) while the siren sounded.
        const detail = redactText(errorMessage(err));
        this.log.warn({ err: detail }, 'talk did not resume after the siren');
        if (this.talk === t) {
          this.talk = undefined;
          await t.stop();
          this.event('talk.ended', { reason: 'ended', detail });
        }
      }
    }
    this.publish();
  }

  private publish(): void {
    const sessions = [...this.sessions.values()].map((s) => ({ ...s.info, frames: s.push.frames }));
    const t = this.talk;
    this.ctx.state.batch(() => {
      this.ctx.state.set('live', { sessions, talk: t ? { url: t.redacted, since: t.since, suspended: t.suspended, ...(t.pid ? { pid: t.pid } : {}) } : null });
      this.ctx.state.setViewers('live', sessions.length);
    });
  }

  private event(type: string, data: Record<string, unknown>): void {
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind: 'live', type, data });
  }
}

export const liveService = (ctx: Context): Service => new LiveService(ctx);
