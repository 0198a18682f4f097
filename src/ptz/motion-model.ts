/**
 * The daemon's model of where a motor is, from what it commanded: the motor runs at the speed
 * the daemon set (a continuous move) or towards the target it set (an absolute goto, at the
 * axis's full speed), and stops at its end stops. Because the daemon drives the motor, this gives
 * the position at any instant — for example at the capture time of every video frame — without
 * asking the controller, which on a 9600-baud RS-485 line takes ~20 ms per axis. Each position
 * query corrects the model (`correct`), so errors (a receiver slower than its nominal speed, a
 * slipped belt) do not accumulate.
 */
export interface AxisMotion {
  /** Position (deg) at `t0`. */
  origin: number;
  /** Epoch ms the motion started. */
  t0: number;
  /** Signed deg/s. */
  velocity: number;
  /** Where a goto stops; undefined for a continuous move. */
  target?: number;
  /** End stops. */
  min: number;
  max: number;
}

export function positionAt(m: AxisMotion, t: number): number {
  if (m.velocity === 0) return m.origin;
  let p = m.origin + (m.velocity * Math.max(0, t - m.t0)) / 1000;
  if (m.target !== undefined) p = m.velocity > 0 ? Math.min(p, m.target) : Math.max(p, m.target);
  return Math.min(m.max, Math.max(m.min, p));
}

/** Time (epoch ms) at which the axis comes to rest; Infinity when it never does; t0 when still. */
export function restTime(m: AxisMotion): number {
  if (m.velocity === 0) return m.t0;
  const end = m.target ?? (m.velocity > 0 ? m.max : m.min);
  return m.t0 + (Math.abs(end - m.origin) / Math.abs(m.velocity)) * 1000;
}

/** Time (epoch ms) at which the axis passes `deg`; undefined if it never does. */
export function timeAt(m: AxisMotion, deg: number): number | undefined {
  if (m.velocity === 0) return m.origin === deg ? m.t0 : undefined;
  const dt = ((deg - m.origin) / m.velocity) * 1000;
  if (dt < 0) return undefined;
  const end = m.target ?? (m.velocity > 0 ? m.max : m.min);
  const beyond = m.velocity > 0 ? deg > end : deg < end;
  return beyond ? undefined : m.t0 + dt;
}

export function isMoving(m: AxisMotion, t: number): boolean {
  return m.velocity !== 0 && t < restTime(m);
}

export class AxisModel {
  private m: AxisMotion;

  constructor(min: number, max: number, initial: number, t: number) {
    this.m = { origin: initial, t0: t, velocity: 0, min, max };
  }

  get motion(): Readonly<AxisMotion> {
    return this.m;
  }

  at(t: number): number {
    return positionAt(this.m, t);
  }

  moving(t: number): boolean {
    return isMoving(this.m, t);
  }

  /** A continuous move at `velocity` deg/s from wherever the axis is at `t` (0 = stop). */
  run(t: number, velocity: number): void {
    this.m = { ...this.m, origin: this.at(t), t0: t, velocity, target: undefined };
  }

  /** A goto at `speed` deg/s. */
  goto(t: number, target: number, speed: number): void {
    const to = Math.min(this.m.max, Math.max(this.m.min, target));
    const from = this.at(t);
    this.m = { ...this.m, origin: from, t0: t, velocity: to === from ? 0 : Math.sign(to - from) * Math.abs(speed), target: to };
  }

  /**
   * The controller said the axis was at `measured` at time `t`. Keeps the commanded motion and
   * moves its origin; a goto whose target is reached is done. Returns the model's error.
   */
  correct(t: number, measured: number): number {
    const error = measured - this.at(t);
    const done = this.m.target !== undefined && Math.abs(measured - this.m.target) < 1e-6;
    this.m = { ...this.m, origin: measured, t0: t, velocity: done ? 0 : this.m.velocity };
    return error;
  }
}
