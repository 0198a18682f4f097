/**
 * Follow-target steering for one axis: a proportional speed towards the target, capped, with its
 * change per tick limited (acceleration), so the close-up pans smoothly instead of jerking from
 * box to box. Inside the deadband the axis stops: a person standing still is framed, not hunted.
 */
export interface SteeringOptions {
  /** deg/s per degree of error. */
  gain: number;
  /** Speed cap, deg/s. */
  maxSpeed: number;
  /** Largest speed change per second, deg/s². */
  maxAccel: number;
  /** Errors below this (deg) stop the axis. */
  deadband: number;
}

export const FOLLOW_STEERING: SteeringOptions = { gain: 1.5, maxSpeed: 30, maxAccel: 60, deadband: 0.5 };

/** Next speed (deg/s, signed) given the error (target − position) and the current speed. */
export function steer(error: number, current: number, dtMs: number, o: SteeringOptions): number {
  const wanted = Math.abs(error) < o.deadband ? 0 : Math.max(-o.maxSpeed, Math.min(o.maxSpeed, o.gain * error));
  const step = (o.maxAccel * dtMs) / 1000;
  // Never overshoot: a speed that would cross the target within one tick is cut to reach it.
  const cap = (Math.abs(error) * 1000) / Math.max(1, dtMs);
  const next = Math.max(current - step, Math.min(current + step, wanted));
  return Math.sign(next) * Math.min(Math.abs(next), cap);
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
