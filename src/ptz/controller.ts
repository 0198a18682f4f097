import type { Logger } from 'pino';
import type { AxisPosition, PtzMotor } from '../../drivers/devices/types.js';
import { sleep, type Clock, type TimerHandle } from '../core/clock.js';
import { HardwareError } from '../../drivers/errors.js';
import { clampHard, degSFromSpeedByte, quantize, speedByteFromDegS, type AxisLimits } from './limits.js';
import { AxisModel, restTime, timeAt, type AxisMotion } from './motion-model.js';

export type Axis = 'pan' | 'tilt';

export interface GotoResult {
  /** False when another command took over before arrival. */
  arrived: boolean;
  position: AxisPosition;
  /** |queried − target| per axis once arrived, degrees. */
  error?: { pan: number; tilt: number };
}

export interface ControllerOptions {
  name: string;
  motor: PtzMotor;
  pan: AxisLimits;
  /** Absent for a pan-only motor (the wide lens). */
  tilt?: AxisLimits;
  clock: Clock;
  log: Logger;
  /** The commanded motion or the position estimate changed. */
  onChange(): void;
}

/** Wait after the predicted arrival before asking, for the receiver's own deceleration. */
const SETTLE_MS = 50;
const POLL_MS = 200;
/** While moving, the position is asked this often to correct the model. */
const CORRECT_MS = 1000;

/**
 * Drives one Pelco-D receiver and keeps the model of its motion.
 *
 * Every motion command supersedes the one before (an abort signal ends its wait, its result is
 * `arrived: false`). A continuous move never leaves the soft range: the axis is stopped at the
 * moment the model says it reaches the soft limit, then the position is queried and, if the
 * stop came late, the axis is brought back inside. A goto waits for the predicted arrival and is
 * verified by querying the controller: the reply is what counts, not the model.
 */
export class MotorController {
  readonly pan: AxisModel;
  readonly tilt: AxisModel | undefined;
  private op: AbortController | undefined;
  private speeds = { pan: 0, tilt: 0 };
  /** True while follow-target steering owns the motor (drive() may skip unchanged speeds). */
  private driving = false;
  private guard: TimerHandle | undefined;
  private deadline: TimerHandle | undefined;
  private corrector: TimerHandle | undefined;

  constructor(private readonly o: ControllerOptions) {
    const t = o.clock.now();
    this.pan = new AxisModel(o.pan.hardMin, o.pan.hardMax, o.pan.home, t);
    this.tilt = o.tilt ? new AxisModel(o.tilt.hardMin, o.tilt.hardMax, o.tilt.home, t) : undefined;
  }

  get name(): string {
    return this.o.name;
  }

  get limits(): { pan: AxisLimits; tilt?: AxisLimits } {
    return { pan: this.o.pan, tilt: this.o.tilt };
  }

  /** The model's position at `t` (default now). */
  position(t = this.o.clock.now()): AxisPosition {
    return { pan: this.pan.at(t), tilt: this.tilt?.at(t) ?? 0 };
  }

  moving(t = this.o.clock.now()): boolean {
    return this.pan.moving(t) || (this.tilt?.moving(t) ?? false);
  }

  motion(): { pan: Readonly<AxisMotion>; tilt?: Readonly<AxisMotion> } {
    return { pan: this.pan.motion, tilt: this.tilt?.motion };
  }

  /** Asks the controller where it is and corrects the model. Throws when it does not answer. */
  async query(): Promise<AxisPosition> {
    const asked = this.o.clock.now();
    const pos = await this.o.motor.queryPosition();
    // The reply describes the moment between asking and answering.
    const t = (asked + this.o.clock.now()) / 2;
    const err = this.pan.correct(t, pos.pan);
    const terr = this.tilt?.correct(t, pos.tilt) ?? 0;
    if (Math.abs(err) > 0.5 || Math.abs(terr) > 0.5) this.o.log.debug({ motor: this.o.name, panError: err, tiltError: terr }, 'motion model corrected');
    this.o.onChange();
    this.armCorrector();
    return pos;
  }

  /**
   * Continuous move at signed speed bytes until stop(), another command, `timeoutMs` or a soft
   * limit. Returns the axes that were not moved because they already sit at their soft limit.
   */
  async move(panByte: number, tiltByte: number, timeoutMs: number): Promise<{ limited: Axis[] }> {
    this.supersede();
    const { pb, tb, limited } = this.limit(panByte, tiltByte);
    await this.send(pb, tb);
    this.armGuard();
    this.o.clock.clearTimeout(this.deadline);
    this.deadline = this.o.clock.setTimeout(() => {
      this.o.log.info({ motor: this.o.name, timeoutMs }, 'continuous move timed out: stopping');
      void this.stop().catch((err: unknown) => this.o.log.warn({ err: String(err) }, 'stop after timeout failed'));
    }, timeoutMs);
    return { limited };
  }

  /** Follow-target steering: speeds in deg/s, re-sent only when the speed bytes change. */
  async drive(panDegS: number, tiltDegS: number, timeoutMs: number): Promise<void> {
    const { pb, tb } = this.limit(speedByteFromDegS(panDegS, this.o.pan), this.o.tilt ? speedByteFromDegS(tiltDegS, this.o.tilt) : 0);
    this.o.clock.clearTimeout(this.deadline);
    this.deadline = this.o.clock.setTimeout(() => void this.stop().catch(() => undefined), timeoutMs);
    if (this.driving && pb === this.speeds.pan && tb === this.speeds.tilt) return;
    this.supersede();
    this.driving = true;
    await this.send(pb, tb);
    this.armGuard();
  }

  async stop(): Promise<AxisPosition> {
    this.supersede();
    this.o.clock.clearTimeout(this.deadline);
    await this.send(0, 0);
    return this.query();
  }

  /**
   * Absolute move; targets are quantised to the controller's step and clamped to the end stops
   * (soft limits are the caller's check: homes and presets are allowed outside them).
   */
  async goto(target: { pan?: number; tilt?: number }): Promise<GotoResult> {
    const signal = this.supersede();
    this.o.clock.clearTimeout(this.deadline);
    const want: Partial<Record<Axis, number>> = {};
    const t0 = this.o.clock.now();
    if (target.pan !== undefined) {
      want.pan = clampHard(quantize(target.pan, this.o.pan), this.o.pan);
      await this.o.motor.gotoPan(want.pan);
      this.pan.goto(this.o.clock.now(), want.pan, this.o.pan.maxSpeedDegS);
    }
    if (target.tilt !== undefined && this.tilt && this.o.tilt) {
      want.tilt = clampHard(quantize(target.tilt, this.o.tilt), this.o.tilt);
      await this.o.motor.gotoTilt(want.tilt);
      this.tilt.goto(this.o.clock.now(), want.tilt, this.o.tilt.maxSpeedDegS);
    }
    this.speeds = { pan: 0, tilt: 0 };
    this.o.onChange();
    this.armCorrector();
    // The deadline moves on while the head gets closer (the model may have started from a wrong
    // position, e.g. before homing); a head that stops making progress fails at the deadline.
    let deadline = this.arrivalTime() + (this.arrivalTime() - t0) * 0.5 + 2000;
    let lastError = Infinity;
    let wait = Math.max(0, this.arrivalTime() - this.o.clock.now()) + SETTLE_MS;
    for (;;) {
      try {
        await sleep(this.o.clock, wait, signal);
      } catch {
        return { arrived: false, position: this.position() };
      }
      const pos = await this.query();
      if (signal.aborted) return { arrived: false, position: pos };
      const error = { pan: want.pan === undefined ? 0 : Math.abs(pos.pan - want.pan), tilt: want.tilt === undefined ? 0 : Math.abs(pos.tilt - want.tilt) };
      const tol = (l: AxisLimits): number => l.stepDeg + 1e-9;
      if (error.pan <= tol(this.o.pan) && (!this.o.tilt || error.tilt <= tol(this.o.tilt))) {
        this.op = undefined;
        return { arrived: true, position: pos, error };
      }
      const now = this.o.clock.now();
      const total = error.pan + error.tilt;
      if (total < lastError - this.o.pan.stepDeg) deadline = Math.max(deadline, this.arrivalTime() + (this.arrivalTime() - now) * 0.5 + 2000);
      lastError = total;
      if (now >= deadline) {
        throw new HardwareError('EIO', `${this.o.name} did not reach pan ${want.pan ?? '-'}°/tilt ${want.tilt ?? '-'}° in time (at ${pos.pan}°/${pos.tilt}°)`);
      }
      wait = Math.max(POLL_MS, this.arrivalTime() - now + SETTLE_MS);
    }
  }

  /**
   * Homing: asks where the head really is (it may have been turned while the camera was off),
   * then goes to the board's home position and verifies it by query.
   */
  async home(): Promise<GotoResult & { from: AxisPosition }> {
    const from = await this.query();
    const r = await this.goto({ pan: this.o.pan.home, tilt: this.o.tilt?.home });
    return { ...r, from };
  }

  /** Releases timers; the caller stops the motor first if it should. */
  dispose(): void {
    this.op?.abort();
    this.op = undefined;
    for (const t of [this.guard, this.deadline, this.corrector]) this.o.clock.clearTimeout(t);
  }

  private arrivalTime(): number {
    return Math.max(restTime(this.pan.motion), this.tilt ? restTime(this.tilt.motion) : 0);
  }

  private supersede(): AbortSignal {
    this.driving = false;
    this.op?.abort();
    this.op = new AbortController();
    this.o.clock.clearTimeout(this.guard);
    return this.op.signal;
  }

  /** Zeroes the speed of axes that sit at their soft limit and would move outwards. */
  private limit(panByte: number, tiltByte: number): { pb: number; tb: number; limited: Axis[] } {
    const now = this.o.clock.now();
    const limited: Axis[] = [];
    const outward = (model: AxisModel, l: AxisLimits, b: number): boolean => (b > 0 && model.at(now) >= l.max) || (b < 0 && model.at(now) <= l.min);
    if (outward(this.pan, this.o.pan, panByte)) {
      limited.push('pan');
      panByte = 0;
    }
    if (!this.tilt || !this.o.tilt) tiltByte = 0;
    else if (outward(this.tilt, this.o.tilt, tiltByte)) {
      limited.push('tilt');
      tiltByte = 0;
    }
    return { pb: panByte, tb: tiltByte, limited };
  }

  private async send(panByte: number, tiltByte: number): Promise<void> {
    await this.o.motor.move(panByte, tiltByte);
    const t = this.o.clock.now();
    this.speeds = { pan: panByte, tilt: tiltByte };
    this.pan.run(t, degSFromSpeedByte(panByte, this.o.pan));
    if (this.tilt && this.o.tilt) this.tilt.run(t, degSFromSpeedByte(tiltByte, this.o.tilt));
    this.o.onChange();
    this.armCorrector();
  }

  /** Stops each moving axis when the model says it reaches its soft limit. */
  private armGuard(): void {
    this.o.clock.clearTimeout(this.guard);
    const now = this.o.clock.now();
    const when = (m: AxisModel, l: AxisLimits): number | undefined => {
      const v = m.motion.velocity;
      return v === 0 ? undefined : timeAt(m.motion, v > 0 ? l.max : l.min);
    };
    const times = [when(this.pan, this.o.pan), this.tilt && this.o.tilt ? when(this.tilt, this.o.tilt) : undefined].filter((t): t is number => t !== undefined);
    if (times.length === 0) return;
    const at = Math.min(...times);
    // Rounded up: a timer that fires early would find the axis short of the limit and re-arm.
    this.guard = this.o.clock.setTimeout(() => void this.onGuard(), Math.max(0, Math.ceil(at - now)));
  }

  private async onGuard(): Promise<void> {
    try {
      const now = this.o.clock.now();
      const atLimit = (m: AxisModel, l: AxisLimits): boolean => {
        const v = m.motion.velocity;
        return (v > 0 && m.at(now) >= l.max - 1e-6) || (v < 0 && m.at(now) <= l.min + 1e-6);
      };
      const pb = atLimit(this.pan, this.o.pan) ? 0 : this.speeds.pan;
      const tb = this.tilt && this.o.tilt && atLimit(this.tilt, this.o.tilt) ? 0 : this.speeds.tilt;
      await this.send(pb, tb);
      if (pb !== 0 || tb !== 0) {
        this.armGuard();
        return;
      }
      this.o.clock.clearTimeout(this.deadline);
      const pos = await this.query();
      // A stop that came late leaves the axis past the soft limit: bring it back inside.
      const back: { pan?: number; tilt?: number } = {};
      if (pos.pan < this.o.pan.min - this.o.pan.stepDeg || pos.pan > this.o.pan.max + this.o.pan.stepDeg) back.pan = Math.min(this.o.pan.max, Math.max(this.o.pan.min, pos.pan));
      if (this.o.tilt && (pos.tilt < this.o.tilt.min - this.o.tilt.stepDeg || pos.tilt > this.o.tilt.max + this.o.tilt.stepDeg)) back.tilt = Math.min(this.o.tilt.max, Math.max(this.o.tilt.min, pos.tilt));
      if (back.pan !== undefined || back.tilt !== undefined) await this.goto(back);
    } catch (err) {
      this.o.log.warn({ motor: this.o.name, err: String(err) }, 'soft-limit stop failed');
    }
  }

  private armCorrector(): void {
    this.o.clock.clearTimeout(this.corrector);
    this.corrector = undefined;
    if (!this.moving()) return;
    this.corrector = this.o.clock.setTimeout(() => {
      this.corrector = undefined;
      void this.query().catch((err: unknown) => this.o.log.warn({ motor: this.o.name, err: String(err) }, 'position query failed'));
    }, CORRECT_MS);
  }
}
