import type { ObjectClass } from './types.js';

/**
 * Sensitivity 1..100 (config `detection.<algorithm>.sensitivity`) → thresholds.
 *
 * The product promise is "false alarms → lower the sensitivity", so every threshold moves
 * monotonically: a lower sensitivity never accepts anything a higher one rejects.
 *
 * Objects (human, vehicle):
 *   score threshold  = 0.85 − 0.40·(s−1)/99   (s=1: 0.85, s=50: 0.65 = the FastestDet author's
 *                      default, s=100: 0.45)
 *   confirm hits     = 3 for s ≤ 30, 2 for s ≤ 80, 1 above: consecutive looks at the object
 *                      before an episode starts.
 *   The score is cls^0.4·obj^0.6 from fastestdet.ts.
 *
 * Image change:
 *   pixel difference = 40 − 30·(s−1)/99 gray levels (s=50: 25, near Frigate's 30)
 *   minimum area     = 2 % of the frame at s=1 down to 0.05 % at s=100, geometric
 *   confirm frames   = 4 at s=1 down to 1 at s=100: frames in a row with change.
 */
export const SENSITIVITY_MIN = 1;
export const SENSITIVITY_MAX = 100;

export interface ObjectThresholds {
  score: number;
  confirmHits: number;
}

export interface ChangeThresholds {
  pixelDiff: number;
  minAreaFraction: number;
  confirmFrames: number;
}

/** 0 at sensitivity 1, 1 at 100; out-of-range and fractional input is clamped/rounded. */
function unit(sensitivity: number): number {
  const s = Math.round(Math.min(SENSITIVITY_MAX, Math.max(SENSITIVITY_MIN, sensitivity)));
  return (s - SENSITIVITY_MIN) / (SENSITIVITY_MAX - SENSITIVITY_MIN);
}

const SCORE_HI: Record<ObjectClass, number> = { human: 0.85, vehicle: 0.85 };
const SCORE_LO: Record<ObjectClass, number> = { human: 0.45, vehicle: 0.45 };

/** The lowest score any sensitivity accepts: the decoder's floor, so nothing is cut too early. */
export const SCORE_FLOOR = Math.min(SCORE_LO.human, SCORE_LO.vehicle);

export function objectThresholds(cls: ObjectClass, sensitivity: number): ObjectThresholds {
  const u = unit(sensitivity);
  const score = SCORE_HI[cls] - (SCORE_HI[cls] - SCORE_LO[cls]) * u;
  const s = Math.round(Math.min(SENSITIVITY_MAX, Math.max(SENSITIVITY_MIN, sensitivity)));
  const confirmHits = s <= 30 ? 3 : s <= 80 ? 2 : 1;
  return { score: Math.round(score * 1000) / 1000, confirmHits };
}

export function changeThresholds(sensitivity: number): ChangeThresholds {
  const u = unit(sensitivity);
  const pixelDiff = Math.round(40 - 30 * u);
  const minAreaFraction = 0.02 * Math.pow(0.0005 / 0.02, u);
  const confirmFrames = Math.max(1, Math.round(4 - 3 * u));
  return { pixelDiff, minAreaFraction, confirmFrames };
}
