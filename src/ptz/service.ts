import type { Logger } from 'pino';
import { HardwareError } from '../../drivers/errors.js';
import { backoffDelay, type TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import type { DetectionEpisode, DetectionTrack } from '../domain/episode.js';
import type { Box } from '../domain/types.js';
import type { Context, Service } from '../supervisor/service.js';
import { lookAngles } from './calibration.js';
import { MotorController } from './controller.js';
import { Follower, type SightingSource } from './follow.js';
import { HeadArbiter, type HeadHolder, type HeadLease, type HeadMotor } from './head.js';
import { axisLimits, clampSoft } from './limits.js';
import { restTime } from './motion-model.js';
import { Patrol } from './patrol.js';
import { PtzActions } from './actions.js';
import { registerPtzCommands } from './commands.js';
import type { MotorKey, PtzHost } from './host.js';
import { aimPoint } from './steering.js';
import { runSweep } from './sweep.js';
import type { PtzMode, PtzState } from './types.js';
import './types.js';

/** Manual control pauses patrol and follow for this long after the last manual command. */
export const MANUAL_HOLD_MS = 60_000;
const RETRY = { baseMs: 5_000, maxMs: 300_000 };
/** An idle receiver is asked its position this often, so one that went silent shows as a fault. */
export const HEARTBEAT_MS = 30_000;


export interface MotorSlot {
  ctrl: MotorController | undefined;
  status: 'homing' | 'ready' | 'unavailable';
  homed: boolean;
  error?: string;
  attempt: number;
  retry: TimerHandle | undefined;
}

const FAULT: Record<MotorKey, string> = { head: 'ptz', wide: 'ptz.widePan' };
const LABEL: Record<MotorKey, string> = { head: 'PTZ head', wide: 'wide-lens pan motor' };

/** The automatic owners evaluate() puts on the head when nobody ranks above them. */
type AutoOwner = 'hold' | 'follow' | 'patrol';

/**
 * PTZ behaviours on the two Pelco-D receivers: homing at boot, manual control, presets,
 * tap-to-look, the 360° sweep's motion, auto patrol and follow-target.
 *
 * Who drives the head is the head arbiter's (head.ts, HEAD_PRIORITY): homing → manual commands
 * → the 360° sweep → the manual hold (MANUAL_HOLD_MS after the last manual command) → follow
 * target (a person on the wide lens) → patrol → idle. One-shot movers (homing, manual, sweep)
 * take the head and give it back; evaluate() puts the automatic owner that should have it next
 * whenever the holder changes. When a followed person leaves (after the follower's grace
 * period, follow.ts), the head returns to the patrol or, without one, to its home position.
 * Follow-target is part of auto patrol (followOn()): patrol off stops it and the head at once.
 * A receiver that stops answering is a camera fault (`ptz`, `ptz.widePan`): its commands answer
 * `unavailable`, homing is retried with backoff, the daemon goes on.
 */
export class PtzService implements Service, PtzHost {
  readonly name = 'ptz';
  readonly log: Logger;
  readonly slots: Record<MotorKey, MotorSlot> = {
    head: { ctrl: undefined, status: 'unavailable', homed: false, attempt: 0, retry: undefined },
    wide: { ctrl: undefined, status: 'unavailable', homed: false, attempt: 0, retry: undefined },
  };
  mode: PtzMode = 'homing';
  manualUntil: number | null = null;
  patrolPreset: string | null = null;
  /** Both exist only when the PTZ head opened. */
  patrol: Patrol | undefined;
  follower: Follower | undefined;
  /** The one owner of the head's motor; exists only when the PTZ head opened. */
  arbiter: HeadArbiter | undefined;
  /** The lease of the automatic owner (hold, follow or patrol), while it has the head. */
  private autoLease: HeadLease | undefined;
  private evaluating = false;
  private evaluateAgain = false;
  readonly actions: PtzActions;
  private manualTimer: TimerHandle | undefined;
  private restTimer: TimerHandle | undefined;
  private heartbeat: TimerHandle | undefined;
  private unsubscribers: (() => void)[] = [];
  private stopped = false;
  /** The followed person is gone for good (after the grace period): decide() sends the head back. */
  private followLost = false;

  constructor(readonly ctx: Context) {
    this.log = ctx.log('ptz');
    this.actions = new PtzActions(this);
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const { ptz: board } = ctx.board;
    const parts = ctx.hardware.parts;
    const failures = ctx.hardware.failures;
    const mk = (key: MotorKey, motor: typeof parts.ptz, tilt: boolean): void => {
      const slot = this.slots[key];
      if (!motor) {
        slot.error = `${LABEL[key]} not available: ${(key === 'head' ? failures.ptz : failures.widePan) ?? 'not on this board'}`;
        return;
      }
      slot.ctrl = new MotorController({
        name: key === 'head' ? 'ptz' : 'widePan',
        motor,
        pan: axisLimits(key === 'head' ? board.pan : board.widePan),
        tilt: tilt ? axisLimits(board.tilt) : undefined,
        clock: ctx.clock,
        log: this.log,
        onChange: () => this.onMotion(key),
      });
    };
    mk('head', parts.ptz, true);
    mk('wide', parts.widePan, false);

    const head = this.slots.head.ctrl;
    if (head) {
      this.arbiter = new HeadArbiter({
        motor: head,
        clock: ctx.clock,
        log: this.log,
        onChange: () => {
          this.evaluate();
          this.publish();
        },
      });
      this.makeAutomation();
      // The 360° view (capture) moves the head only through this port, arbitrated like the rest.
      ctx.ports.head = { sweep: (shots, shoot) => this.use('head', () => runSweep(this.arbiter!, this.log, shots, shoot)) };
    }

    ctx.bus.on(this, 'detection.episode', (e) => this.onEpisode(e));
    ctx.bus.on(this, 'detection.track', (t) => this.onTrack(t));
    this.unsubscribers.push(
      ctx.state.subscribe(this, (_s, changed) => {
        if (changed.has('sleeping')) this.evaluate();
      }),
      ctx.config.onChange(this, (_cfg, paths) => {
        if (!paths.some((p) => p.startsWith('ptz.'))) return;
        if (!this.followOn()) this.follower?.clear();
        this.evaluate();
        // Presets and patrol settings are in the state slice even when nobody changes hands.
        this.publish();
      }),
    );
    registerPtzCommands(this, this.actions);
    this.evaluate();
    this.publish();
    // Homing runs in the background: a slow or silent controller must not hold up the boot.
    for (const key of ['head', 'wide'] as const) if (this.slots[key].ctrl) void this.home(key);
    this.heartbeat = ctx.clock.setInterval(() => this.checkAlive(), HEARTBEAT_MS);
  }

  private checkAlive(): void {
    for (const key of ['head', 'wide'] as const) {
      const slot = this.slots[key];
      // A moving motor is queried by its controller anyway; homing and retries have their own path.
      if (slot.status !== 'ready' || !slot.ctrl || slot.ctrl.moving()) continue;
      slot.ctrl.query().catch((err: unknown) => this.fail(key, err));
    }
  }

  private makeAutomation(): void {
    const { ctx } = this;
    this.patrol = new Patrol({
      clock: ctx.clock,
      log: this.log,
      presets: () => ctx.config.get().ptz.presets,
      defaultDwellSeconds: () => ctx.config.get().ptz.patrol.dwellSeconds,
      onPreset: (name) => {
        this.patrolPreset = name;
        this.publish();
      },
      onError: (err) => this.fail('head', err),
    });
    this.follower = new Follower({
      clock: ctx.clock,
      log: this.log,
      onLost: () => {
        this.followLost = true;
        this.evaluate();
      },
      onChange: () => this.publish(),
      onError: (err) => this.fail('head', err),
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribers.splice(0)) u();
    if (this.ctx.ports.head && this.arbiter) delete this.ctx.ports.head;
    this.patrol?.stop();
    this.follower?.clear();
    this.arbiter?.dispose();
    for (const t of [this.manualTimer, this.restTimer]) this.ctx.clock.clearTimeout(t);
    this.ctx.clock.clearInterval(this.heartbeat);
    for (const slot of Object.values(this.slots)) {
      this.ctx.clock.clearTimeout(slot.retry);
      slot.ctrl?.dispose();
    }
    // The motors themselves are stopped by hardware.allOff() at shutdown.
  }

  /** Goes to the board's home position and verifies it by query; retried with backoff on failure. */
  async home(key: MotorKey): Promise<void> {
    const slot = this.slots[key];
    const ctrl = slot.ctrl;
    if (!ctrl || this.stopped) return;
    this.ctx.clock.clearTimeout(slot.retry);
    slot.status = 'homing';
    slot.homed = false;
    if (key === 'head') this.evaluate();
    this.publish();
    try {
      // The head's homing is exclusive: it takes the head from anyone and nobody moves it meanwhile.
      const arbiter = key === 'head' ? this.arbiter : undefined;
      const r = arbiter ? await arbiter.run({ owner: 'homing', why: slot.attempt > 0 ? `retry ${slot.attempt}` : 'boot' }, (l) => l.motor.home()) : await ctrl.home();
      if (this.stopped) return;
      if (!r.arrived) throw new HardwareError('EIO', 'homing was interrupted');
      slot.status = 'ready';
      slot.homed = true;
      slot.attempt = 0;
      slot.error = undefined;
      this.ctx.state.clearFault(FAULT[key]);
      this.log.info({ motor: ctrl.name, from: r.from, position: r.position, error: r.error }, 'homed');
    } catch (err) {
      this.fail(key, err);
    }
    if (key === 'head') this.evaluate();
    this.publish();
  }

  /** A hardware failure: the motor is unavailable until homing works again. Other errors pass. */
  fail(key: MotorKey, err: unknown): void {
    if (!(err instanceof HardwareError)) return;
    const slot = this.slots[key];
    if (this.stopped || !slot.ctrl) return;
    const message = err.code === 'EIO' ? `${LABEL[key]}: ${err.message}` : `${LABEL[key]} does not answer: ${err.message}`;
    // Logged once per outage, not on every failed retry.
    const first = !(FAULT[key] in this.ctx.state.get().faults);
    slot.status = 'unavailable';
    slot.homed = false;
    slot.error = message;
    this.ctx.state.raiseFault(FAULT[key], { kind: 'camera', component: 'ptz', message }, this.ctx.clock.now());
    const delay = backoffDelay(slot.attempt++, RETRY);
    if (first) this.log.error({ motor: slot.ctrl.name, err: errorMessage(err), retryInMs: delay }, 'PTZ receiver failed');
    this.ctx.clock.clearTimeout(slot.retry);
    slot.retry = this.ctx.clock.setTimeout(() => void this.home(key), delay);
    if (key === 'head') this.evaluate();
    this.publish();
  }

  /** The controller for a command, or the reason it cannot take one. */
  ready(key: MotorKey): MotorController {
    const slot = this.slots[key];
    if (!slot.ctrl) throw new CamdError('unavailable', slot.error ?? `${LABEL[key]} not available`);
    if (slot.status === 'homing') throw new CamdError('busy', `${LABEL[key]} is homing; try again in a few seconds`);
    if (slot.status === 'unavailable') throw new CamdError('unavailable', slot.error ?? `${LABEL[key]} does not answer`);
    return slot.ctrl;
  }

  /** Runs a command on a motor; a hardware failure marks it unavailable and answers `unavailable`. */
  async use<T>(key: MotorKey, fn: (c: MotorController) => Promise<T>): Promise<T> {
    const ctrl = this.ready(key);
    try {
      return await fn(ctrl);
    } catch (err) {
      if (err instanceof HardwareError) {
        this.fail(key, err);
        // EIO: it answers but did not get there (blocked, slipping); anything else: it does not answer.
        if (err.code === 'EIO') throw new CamdError('failed', `${LABEL[key]}: ${err.message}`);
        throw new CamdError('unavailable', `${LABEL[key]} does not answer: ${err.message}`);
      }
      throw err;
    }
  }

  /**
   * A manual command (`why`: its name): runs `fn` on the head under a `manual` lease, which
   * preempts the sweep, follow, patrol and the hold; afterwards evaluate() keeps the head at
   * `hold` until MANUAL_HOLD_MS after the last manual command, so the automatic modes stay paused.
   */
  manual<T>(why: string, fn: (m: HeadMotor) => Promise<T>): Promise<T> {
    return this.use('head', async () => {
      this.manualUntil = this.ctx.clock.now() + MANUAL_HOLD_MS;
      this.ctx.clock.clearTimeout(this.manualTimer);
      this.manualTimer = this.ctx.clock.setTimeout(() => this.evaluate(), MANUAL_HOLD_MS);
      return this.arbiter!.run({ owner: 'manual', why }, (lease) => fn(lease.motor));
    });
  }

  releaseManual(): void {
    this.manualUntil = null;
    this.ctx.clock.clearTimeout(this.manualTimer);
  }

  /** Decides which automatic owner should have the head now (see the class comment). Re-entrant calls run once more, after. */
  evaluate(): void {
    if (this.stopped) return;
    if (this.evaluating) {
      this.evaluateAgain = true;
      return;
    }
    this.evaluating = true;
    try {
      do {
        this.evaluateAgain = false;
        this.decide();
      } while (this.evaluateAgain && !this.stopped);
    } finally {
      this.evaluating = false;
    }
  }

  /**
   * Follow-target is part of auto patrol (the product's one "Auto patrol: patrol and follow the
   * target" switch): it acts only while patrol is on. `followTarget` alone is the remembered choice.
   */
  followOn(): boolean {
    const p = this.ctx.config.get().ptz.patrol;
    return p.enabled && p.followTarget;
  }

  private decide(): void {
    const cfg = this.ctx.config.get().ptz;
    const head = this.slots.head;
    const now = this.ctx.clock.now();
    const { patrol, follower, arbiter } = this;
    // Consumed here whatever is decided: a person lost while someone else had the head sends it nowhere.
    const lost = this.followLost;
    this.followLost = false;
    if (head.status !== 'ready' || !patrol || !follower || !arbiter) {
      this.endAuto();
      this.setMode(head.status === 'homing' ? 'homing' : 'unavailable');
      return;
    }
    let want: AutoOwner | null = null;
    if (this.manualUntil !== null && now < this.manualUntil) want = 'hold';
    else {
      this.manualUntil = null;
      const sleeping = this.ctx.state.get().sleeping;
      const follow = this.followOn() && !sleeping;
      if (!follow) follower.clear();
      if (follow && follower.target) want = 'follow';
      else if (cfg.patrol.enabled && !sleeping && cfg.presets.length > 0) want = 'patrol';
    }
    // Follow switched off (patrol off, sleep) with nobody to take over: the head stops where it is
    // now, rather than running on until the last speed command's deadline.
    if (this.autoLease && (this.autoLease.holder.owner !== want || !this.autoLease.active)) this.endAuto(want === null && !lost);
    if (want && !this.autoLease) {
      // A one-shot mover (homing, manual command, sweep) has the head: it gives it back, and its release evaluates again.
      if (!arbiter.wouldGrant(want)) {
        this.setMode(modeOf(arbiter.holder, want));
        return;
      }
      this.takeAuto(arbiter, want, patrol, follower);
    }
    if (want) {
      this.setMode(want === 'hold' ? 'manual' : want);
      return;
    }
    this.setMode(modeOf(arbiter.holder, null));
    // The followed person left and there is no patrol round to return to (its presets were deleted): back to home.
    if (lost) this.returnHome(arbiter);
  }

  private takeAuto(arbiter: HeadArbiter, owner: AutoOwner, patrol: Patrol, follower: Follower): void {
    const lease = arbiter.acquire({
      owner,
      why: owner === 'follow' ? `episode ${follower.target?.episodeId ?? '?'}` : undefined,
      // Preempted: stop driving at once (its lease already refuses motions); it resumes when evaluate() gives it the head back.
      onPreempt: () => {
        if (this.autoLease !== lease) return;
        this.autoLease = undefined;
        if (owner === 'patrol') patrol.stop();
        if (owner === 'follow') follower.stop();
      },
    });
    this.autoLease = lease;
    if (owner === 'follow') follower.start(lease.motor);
    if (owner === 'patrol') {
      patrol.start(lease.motor, () => {
        // The round ended by itself (presets gone, a failure): give the head back.
        if (this.autoLease !== lease) return;
        this.autoLease = undefined;
        lease.release();
      });
    }
  }

  /** Stops the automatic owner and gives its lease back; `halt`: follow (it drives by speed) stops the head first. */
  private endAuto(halt = false): void {
    const lease = this.autoLease;
    this.patrol?.stop();
    this.follower?.stop();
    this.autoLease = undefined;
    if (halt && lease?.active && lease.holder.owner === 'follow') {
      // Sent while the lease still holds the head; the next owner's commands queue behind it.
      lease.motor.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'follow: stopping the head failed'));
    }
    lease?.release();
  }

  private returnHome(arbiter: HeadArbiter): void {
    if (!arbiter.wouldGrant('follow')) return;
    void this.use('head', () => arbiter.run({ owner: 'follow', why: 'return home' }, async (l) => l.motor.goto({ pan: l.motor.limits.pan.home, tilt: l.motor.limits.tilt?.home }))).catch(
      (err: unknown) => this.log.warn({ err: errorMessage(err) }, 'return to home failed'),
    );
  }

  /** Aim for a person's box on the wide image, at the wide lens's pan when the frame was taken. */
  aimAt(box: readonly [number, number, number, number], ts: number): { pan: number; tilt: number } {
    const { x, y } = aimPoint(box);
    const head = this.slots.head.ctrl!;
    const a = lookAngles(this.ctx.config.get().ptz.calibration, x, y, this.widePanAt(ts), this.ctx.board.ptz.widePan.homeDeg);
    return { pan: clampSoft(a.pan, head.limits.pan), tilt: head.limits.tilt ? clampSoft(a.tilt, head.limits.tilt) : 0 };
  }

  widePanAt(t: number): number {
    const wide = this.slots.wide;
    return wide.ctrl && wide.homed ? wide.ctrl.position(t).pan : this.ctx.board.ptz.widePan.homeDeg;
  }

  private onEpisode(e: DetectionEpisode): void {
    if (e.lens !== 'wide' || e.type !== 'human') return;
    if (e.phase === 'end') {
      this.follower?.end(e.id);
      return;
    }
    this.sighted(e.id, e.box, e.ts, 'episode');
  }

  /** A person of an open episode, per inference: the feed follow steers by between the episode's updates. */
  private onTrack(t: DetectionTrack): void {
    if (t.lens !== 'wide' || t.type !== 'human') return;
    this.sighted(t.episodeId, t.box, t.ts, 'track');
  }

  private sighted(episodeId: string, box: Box, ts: number, source: SightingSource): void {
    const follower = this.follower;
    if (!follower || !this.followOn() || this.ctx.state.get().sleeping) return;
    const aim = this.aimAt([box.x, box.y, box.w, box.h], ts);
    const isNew = !follower.target;
    if (follower.observe(episodeId, aim.pan, aim.tilt, ts, source) && isNew) this.evaluate();
  }

  private onMotion(key: MotorKey): void {
    const ctrl = this.slots[key].ctrl;
    if (!ctrl) return;
    const m = ctrl.motion();
    this.ctx.bus.emit('ptz.motion', { motor: key === 'head' ? 'ptz' : 'widePan', pan: { ...m.pan }, tilt: m.tilt ? { ...m.tilt } : undefined });
    this.publish();
    // Publish again when the motion ends, so `moving` and the angles settle in the state.
    const rest = Math.max(restTime(m.pan), m.tilt ? restTime(m.tilt) : 0);
    const now = this.ctx.clock.now();
    if (Number.isFinite(rest) && rest > now) {
      this.ctx.clock.clearTimeout(this.restTimer);
      this.restTimer = this.ctx.clock.setTimeout(() => this.publish(), Math.ceil(rest - now) + 1);
    }
  }

  private setMode(mode: PtzMode): void {
    if (mode === this.mode) return;
    this.log.debug({ from: this.mode, to: mode }, 'ptz mode');
    this.mode = mode;
    this.publish();
  }

  snapshot(): PtzState {
    const cfg = this.ctx.config.get().ptz;
    const { head, wide } = this.slots;
    const now = this.ctx.clock.now();
    const pos = head.ctrl?.position(now);
    const r = (v: number): number => Math.round(v * 100) / 100;
    const target = this.follower?.target;
    const error = [head.error, wide.error].filter(Boolean).join('; ');
    return {
      available: head.status === 'ready',
      homed: head.homed,
      pan: r(pos?.pan ?? 0),
      tilt: r(pos?.tilt ?? 0),
      widePan: wide.ctrl && wide.status !== 'unavailable' ? r(wide.ctrl.position(now).pan) : null,
      wideAvailable: wide.status === 'ready',
      moving: !!head.ctrl?.moving(now) || !!wide.ctrl?.moving(now),
      mode: this.mode,
      presets: cfg.presets.map((p) => p.name),
      patrol: { enabled: cfg.patrol.enabled, followTarget: this.followOn(), preset: this.mode === 'patrol' ? this.patrolPreset : null },
      target: target ? { episodeId: target.episodeId, pan: r(target.pan), tilt: r(target.tilt) } : null,
      manualUntil: this.manualUntil,
      calibrationPairs: this.actions.calibrationPairs.length,
      head: this.arbiter?.holder ?? null,
      ...(error ? { error } : {}),
    };
  }

  publish(): void {
    if (this.stopped) return;
    const next = this.snapshot();
    if (JSON.stringify(next) !== JSON.stringify(this.ctx.state.get().ptz)) this.ctx.state.set('ptz', next);
  }
}

/** The mode shown while `holder` has the head and `want` (the automatic owner due) waits for it. */
function modeOf(holder: HeadHolder | null, want: AutoOwner | null): PtzMode {
  switch (holder?.owner) {
    case 'homing':
      return 'homing';
    case 'manual':
    case 'hold':
      return 'manual';
    case 'sweep':
      return 'sweep';
    default:
      return want === 'hold' ? 'manual' : (want ?? 'idle');
  }
}

export const ptzService = (ctx: Context): Service => new PtzService(ctx);
