import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { NoArgs } from '../commands/registry.js';
import type { DetectionEpisode } from '../domain/episode.js';
import { DETECTION_TYPES } from '../domain/types.js';
import { sleepGate } from '../state/sleep-gate.js';
import type { Context, Service } from '../supervisor/service.js';
import { holdCapMs } from './bounds.js';
import { Holds, type HoldSource, type Output } from './holds.js';
import { AlarmOutputs } from './outputs.js';
import type { Tone } from './pattern.js';
import type { AlarmState } from './types.js';
import './types.js';

type StopReason = 'command' | 'timeout' | 'sleep' | 'shutdown' | 'settings';

const FAULT_ID = 'alarm.spotlight';

/**
 * The camera's deterrents: red/blue strobes, siren and spotlight.
 *
 * - A `detection.episode` start runs that type's light and audio settings (strobes for
 *   strobeSeconds, spotlight for spotlightSeconds, siren with its tone for sirenSeconds). An
 *   alert whose setting is off does nothing; a repeated detection extends, never shortens.
 * - `alarm.start` = siren + alternating strobes until `alarm.stop` or the timeout.
 * - `spotlight.set` = the app's toggle: on until switched off, sleep/shutdown, or
 *   `lights.spotlightMaxSeconds` after it was switched on.
 * - `output.set` = one output by hand (installation test): the siren and a strobe line for at
 *   most `alarm.timeoutSeconds`, the spotlight as the app's toggle. It is registered here, not
 *   in the core commands, so that every hand switch goes through the same holds and bounds
 *   (holds.ts, bounds.ts): no command writes a deterrent part directly.
 * - Sleep mode and maintenance mode: detections switch nothing on. Sleep also turns everything
 *   off and refuses to switch anything on; maintenance only stops the automatic alerts (the
 *   installer may still test by hand).
 * - stop(): everything off.
 */
export class AlarmService implements Service {
  readonly name = 'alarm';
  private readonly holds = new Holds((output, source) => holdCapMs(this.ctx.config.get(), output, source));
  private outputs!: AlarmOutputs;
  private timer: TimerHandle | undefined;
  private active = false;
  private stopped = false;
  private unsubscribers: (() => void)[] = [];
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('alarm');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.outputs = new AlarmOutputs({
      parts: ctx.hardware.parts,
      clock: ctx.clock,
      bus: ctx.bus,
      log: this.log,
      onSpotlightFault: (message) => {
        if (message === null) ctx.state.clearFault(FAULT_ID);
        else ctx.state.raiseFault(FAULT_ID, { kind: 'camera', component: 'spotlight', message }, ctx.clock.now());
      },
    });
    const missing = this.outputs.missing();
    if (missing.length) this.log.warn({ missing }, 'alarm parts missing: the alarm runs with the rest');

    // The typed episode, at once: the siren does not wait for the cloud record's snapshot.
    ctx.bus.on(this, 'detection.episode', (e) => this.onEpisode(e));
    this.unsubscribers.push(
      ctx.state.subscribe(this, (s, changed) => {
        if (changed.has('sleeping') && s.sleeping) this.clearAll('sleep');
      }),
      ctx.config.onChange(this, (cfg, paths) => {
        if (paths.some((p) => /^(lights|audio|alarm)\./.test(p))) this.onSettings(cfg);
      }),
    );
    this.registerCommands();
    this.publish();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribers.splice(0)) u();
    this.ctx.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.outputs) return;
    this.holds.clear();
    this.transition('shutdown');
    await this.outputs.allOff();
    this.publish();
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'alarm.start',
      access: 'cloud',
      summary: 'siren + alternating red/blue strobes until alarm.stop or the timeout (seconds, default alarm.timeoutSeconds)',
      args: z.object({ seconds: z.number().int().min(1).max(900).optional() }).strict(),
      handler: ({ seconds }) => {
        this.refuseWhileSleeping();
        const parts = ctx.hardware.parts;
        if (!parts.siren && !parts.strobeRed && !parts.strobeBlue) {
          throw new CamdError('unavailable', `no siren and no strobe on this camera (${this.failureText(['siren', 'strobeRed', 'strobeBlue'])})`);
        }
        const now = ctx.clock.now();
        const until = now + (seconds ?? ctx.config.get().alarm.timeoutSeconds) * 1000;
        // A new Alarm command restarts the timeout as asked, shorter or longer — within
        // MANUAL_ALARM_MAX_SECONDS of the activation's start, however often it is repeated.
        this.holds.set('strobe', { source: 'manual', until, since: now }, { replace: true });
        this.holds.set('siren', { source: 'manual', until, since: now, tone: 'siren' }, { replace: true });
        this.log.info({ until, seconds }, 'alarm started by command');
        void this.reconcile('command').catch(() => undefined); // a part that fails is shown in the state
        return this.snapshot();
      },
    });
    ctx.commands.register(this, {
      name: 'alarm.stop',
      access: 'cloud',
      summary: 'stop the alarm, any running detection alert and a siren or strobe switched by hand (the app spotlight toggle stays as it is)',
      args: NoArgs,
      handler: () => {
        for (const src of ['manual', 'hand', ...DETECTION_TYPES] as const) this.holds.releaseSource(src);
        this.log.info('alarm stopped by command');
        void this.reconcile('command').catch(() => undefined); // a part that fails is shown in the state
        return this.snapshot();
      },
    });
    ctx.commands.register(this, {
      name: 'spotlight.set',
      access: 'cloud',
      summary: 'the Spotlight toggle: on (until switched off, at most lights.spotlightMaxSeconds) or off, optional brightness 1..100 %',
      args: z.object({ on: z.boolean(), brightness: z.number().int().min(1).max(100).optional() }).strict(),
      handler: async ({ on, brightness }, meta) => {
        await this.spotlightToggle(on, brightness, meta.source);
        return this.snapshot();
      },
    });
    ctx.commands.register(this, {
      name: 'output.set',
      access: 'cloud',
      summary: 'turn an output on or off by hand (installation/maintenance test); siren and strobe lines go off after alarm.timeoutSeconds, the spotlight after lights.spotlightMaxSeconds',
      args: z.object({ output: z.enum(HAND_OUTPUTS), on: z.boolean(), brightness: z.number().int().min(1).max(100).optional() }).strict(),
      handler: async ({ output, on, brightness }, meta) => {
        if (!ctx.hardware.parts[output]) throw new CamdError('unavailable', `${output} is not available: ${this.failureText([output], false)}`, 'output');
        if (output === 'spotlight') await this.spotlightToggle(on, brightness, meta.source);
        else this.handSwitch(output, on, meta.source);
        const offAt = output === 'spotlight' ? this.holds.offAt('spotlight') : on ? (this.holds.get(output, 'hand')?.until ?? null) : null;
        return { output, on, offAt, outputs: ctx.hardware.outputs() };
      },
    });
    ctx.commands.register(this, { name: 'alarm.get', access: 'cloud', summary: 'what the alarm, strobes, siren and spotlight are doing', args: NoArgs, handler: () => this.snapshot() });
  }

  /** The app's Spotlight toggle (`spotlight.set`, `output.set spotlight`): on = one capped activation, off = off whoever switched it on. */
  private async spotlightToggle(on: boolean, brightness: number | undefined, source: string): Promise<void> {
    const { ctx } = this;
    if (on) this.refuseWhileSleeping();
    if (!ctx.hardware.parts.spotlight) throw new CamdError('unavailable', `spotlight is not available (${this.failureText(['spotlight'])})`);
    const prev = this.holds.list('spotlight');
    if (on) this.holds.set('spotlight', { source: 'app', until: null, since: ctx.clock.now(), brightness: brightness ?? ctx.config.get().lights.spotlightBrightness });
    else this.holds.release('spotlight');
    try {
      await this.reconcile('command');
    } catch (err) {
      // Nothing half-applied: the holds go back to what they were.
      this.holds.release('spotlight');
      for (const h of prev) this.holds.restore('spotlight', h);
      this.outputs.resetSpotlightTarget();
      this.publish();
      throw new CamdError('failed', `spotlight did not switch ${on ? 'on' : 'off'}: ${errorMessage(err)}`);
    }
    this.log.info({ on, brightness, source, offAt: this.holds.offAt('spotlight') }, 'spotlight set by command');
  }

  /**
   * A siren or strobe line by hand. On: one activation of at most alarm.timeoutSeconds; asking
   * again while it is on changes nothing (it does not re-arm). Off: off now, whoever switched it
   * on — for a strobe line that stops the alternating flash too, which lights both lines.
   */
  private handSwitch(output: 'siren' | 'strobeRed' | 'strobeBlue', on: boolean, source: string): void {
    const now = this.ctx.clock.now();
    if (on) {
      this.refuseWhileSleeping();
      this.holds.set(output, { source: 'hand', until: null, since: now, ...(output === 'siren' && { tone: 'siren' as const }) });
    } else {
      this.holds.release(output);
      if (output !== 'siren') this.holds.release('strobe');
    }
    const offAt = on ? (this.holds.get(output, 'hand')?.until ?? null) : null;
    this.log.info({ output, on, source, offAt }, 'output set by hand');
    void this.reconcile('command').catch(() => undefined);
  }

  private onEpisode(e: DetectionEpisode): void {
    if (e.phase !== 'start' || this.stopped) return;
    const { type } = e;
    const cfg = this.ctx.config.get();
    if (this.ctx.state.get().sleeping) return;
    // Within the detection cooldown: reported to the cloud, but no lights and no siren again.
    if (!e.alert) {
      this.log.debug({ type, episode: e.id }, 'detection within cooldown: no alert');
      return;
    }
    if (cfg.alarm.maintenance) {
      this.log.debug({ type }, 'maintenance mode: detection alert suppressed');
      return;
    }
    const light = cfg.lights[type];
    const audio = cfg.audio[type];
    const now = this.ctx.clock.now();
    const any = (light.strobe && light.strobeSeconds > 0) || (light.spotlight && light.spotlightSeconds > 0) || (audio.siren && audio.sirenSeconds > 0);
    if (!any) return;
    if (light.strobe && light.strobeSeconds > 0) this.holds.set('strobe', { source: type, until: now + light.strobeSeconds * 1000, since: now });
    if (light.spotlight && light.spotlightSeconds > 0) {
      this.holds.set('spotlight', { source: type, until: now + light.spotlightSeconds * 1000, since: now, brightness: cfg.lights.spotlightBrightness });
    }
    if (audio.siren && audio.sirenSeconds > 0) this.holds.set('siren', { source: type, until: now + audio.sirenSeconds * 1000, since: now, tone: audio.tone });
    this.log.info({ type, lens: e.lens, episode: e.id }, 'detection alert');
    void this.reconcile('timeout').catch(() => undefined);
  }

  /** Settings changed: alerts whose setting is now off stop at once; maintenance stops them all. */
  private onSettings(cfg: Config): void {
    let changed = false;
    for (const type of DETECTION_TYPES) {
      const off = cfg.alarm.maintenance;
      if (off || !cfg.lights[type].strobe) changed = this.holds.release('strobe', [type]) || changed;
      if (off || !cfg.lights[type].spotlight) changed = this.holds.release('spotlight', [type]) || changed;
      if (off || !cfg.audio[type].siren) changed = this.holds.release('siren', [type]) || changed;
    }
    if (changed) this.log.info('alert settings changed: running detection alerts updated');
    // alarm.timeoutSeconds / lights.spotlightMaxSeconds bound running hand holds at once.
    if (this.holds.recap()) this.log.info('on-time bounds changed: running hand-switched outputs updated');
    void this.reconcile('settings').catch(() => undefined);
  }

  private clearAll(reason: StopReason): void {
    this.holds.clear();
    this.log.info({ reason }, 'alarm and lights off');
    void this.reconcile(reason).catch(() => undefined);
  }

  /** Drives the outputs to the holds; resolves when the spotlight change (if any) is done. */
  private reconcile(reason: StopReason): Promise<void> {
    if (this.stopped) return this.outputs.settled();
    const now = this.ctx.clock.now();
    if (this.holds.expire(now)) reason = 'timeout';
    const cfg = this.ctx.config.get();
    this.outputs.setStrobes(this.holds.has('strobe') ? 'flash' : { red: this.holds.has('strobeRed'), blue: this.holds.has('strobeBlue') });
    this.outputs.setSiren(this.sirenTone());
    const spot = this.holds.latest('spotlight', 'app');
    const done = this.outputs.setSpotlight(!!spot, spot?.brightness ?? cfg.lights.spotlightBrightness);
    this.ctx.clock.clearTimeout(this.timer);
    const next = this.holds.nextExpiry();
    this.timer = next === undefined ? undefined : this.ctx.clock.setTimeout(() => void this.reconcile('timeout').catch(() => undefined), Math.max(0, next - now));
    this.transition(reason);
    this.publish();
    return done.finally(() => this.publish());
  }

  /** Continuous while the Alarm or a hand switch holds the siren, else the latest detection's tone. */
  private sirenTone(): Tone | null {
    const list = this.holds.list('siren');
    if (list.length === 0) return null;
    if (list.some((h) => h.source === 'manual' || h.source === 'hand')) return 'siren';
    return this.holds.latest('siren')?.tone ?? 'siren';
  }

  /** `alarm` camera events on start and stop of the deterrent as a whole. */
  private transition(reason: StopReason): void {
    const holds = this.holds.alarmHolds();
    const active = holds.length > 0;
    if (active === this.active) return;
    this.active = active;
    const data: Record<string, unknown> = active
      ? { source: this.source(), until: this.until(), strobes: this.holds.has('strobe'), siren: this.holds.has('siren'), spotlight: this.holds.has('spotlight'), missing: this.outputs.missing() }
      : { reason };
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind: 'alarm', type: active ? 'alarm.start' : 'alarm.stop', data });
  }

  private source(): AlarmState['source'] {
    const latest = this.holds.alarmHolds().reduce<{ source: HoldSource; since: number } | undefined>((a, h) => (!a || h.since >= a.since ? h : a), undefined);
    return latest && latest.source !== 'app' && latest.source !== 'hand' ? latest.source : null;
  }

  private until(): number | null {
    const holds = this.holds.alarmHolds();
    if (holds.length === 0) return null;
    return Math.max(...holds.map((h) => h.until));
  }

  private snapshot(): AlarmState {
    return {
      active: this.active,
      source: this.source(),
      until: this.until(),
      strobes: this.outputs.strobing,
      siren: this.outputs.sounding,
      spotlight: this.outputs.spotlightOn,
      spotlightBrightness: this.outputs.spotlightBrightness,
      maintenance: this.ctx.config.get().alarm.maintenance,
      missing: this.outputs.missing(),
      offAt: {
        strobes: maxOrNull([this.holds.offAt('strobe'), this.holds.offAt('strobeRed'), this.holds.offAt('strobeBlue')]),
        siren: this.holds.offAt('siren'),
        spotlight: this.holds.offAt('spotlight'),
      },
    };
  }

  private publish(): void {
    const next = this.snapshot();
    if (JSON.stringify(next) !== JSON.stringify(this.ctx.state.get().alarm)) this.ctx.state.set('alarm', next);
  }

  private refuseWhileSleeping(): void {
    // The gate (setting or published flag): refused from the moment sleep is asked for.
    if (sleepGate(this.ctx).asleep()) throw new CamdError('unavailable', 'sleep mode is on: the alarm and the lights stay off');
  }

  private failureText(parts: string[], named = true): string {
    const f = this.ctx.hardware.failures as Record<string, string | undefined>;
    return parts.map((p) => `${named ? `${p}: ` : ''}${f[p] ?? 'not on this board'}`).join('; ');
  }
}

/** The parts `output.set` switches (the names of the board's parts). */
const HAND_OUTPUTS = ['strobeRed', 'strobeBlue', 'siren', 'spotlight'] as const satisfies readonly Output[];

function maxOrNull(xs: (number | null)[]): number | null {
  const n = xs.filter((x): x is number => x !== null);
  return n.length ? Math.max(...n) : null;
}

export const alarmService = (ctx: Context): Service => new AlarmService(ctx);
