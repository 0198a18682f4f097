/**
 * Follow-target steering for one axis: a proportional speed towards the target, capped, with its
 * change per tick limited (acceleration), so the close-up pans smoothly instead of jerking from
 * box to box — braking included: a target that turns up next to a head running at full speed is
 * reached by slowing down at `maxAccel` (and coming back if it overshoots), never by stopping dead.
 * Dead band with hysteresis: an axis at rest starts only for an error of `startBand` or more, a
 * moving one runs until the error is under `deadband`. A person standing still is framed, not
 * hunted: the box of someone standing still jitters by about a degree from one inference to the
 * next, and the close-up's field of view is tens of degrees.
 */
export interface SteeringOptions {
  /** deg/s per degree of error. */
  gain: number;
  /** Speed cap, deg/s. */
  maxSpeed: number;
  /** Largest speed change per second, deg/s². */
  maxAccel: number;
  /** A moving axis stops once the error (deg) is below this. */
  deadband: number;
  /** An axis at rest starts only once the error (deg) reaches this (≥ deadband). */
  startBand: number;
}

export const FOLLOW_STEERING: SteeringOptions = { gain: 1.5, maxSpeed: 30, maxAccel: 60, deadband: 0.5, startBand: 2 };

/** Next speed (deg/s, signed) given the error (target − position) and the current speed (0 = at rest). */
export function steer(error: number, current: number, dtMs: number, o: SteeringOptions): number {
  const e = Math.abs(error);
  const band = current === 0 ? o.startBand : o.deadband;
  // Proportional, capped, and never faster than the axis can brake to a stop within the error
  // (v² = 2·a·e), so it arrives without overshoot when the target holds still.
  const wanted = e < band ? 0 : Math.sign(error) * Math.min(o.maxSpeed, o.gain * e, Math.sqrt(2 * o.maxAccel * e));
  const step = (o.maxAccel * dtMs) / 1000;
  return Math.max(current - step, Math.min(current + step, wanted));
}

/**
 * The point of a person's box the close-up aims at: horizontally the centre, vertically a third
 * of the way down (chest height), which frames the face and torso rather than the feet.
 */
export function aimPoint(box: readonly [number, number, number, number]): { x: number; y: number } {
  const [x, y, w, h] = box;
  return { x: clamp01(x + w / 2), y: clamp01(y + h / 3) };
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
