import type { ObjectClass } from './types.js';

/**
 * Sensitivity 1..100 (config `detection.<algorithm>.sensitivity`) → thresholds.
 *
 * The product promise is "false alarms → lower the sensitivity", so every threshold moves
 * monotonically: a lower sensitivity never accepts anything a higher one rejects.
 *
 * Objects (human, vehicle), see README "Confirmation and continuity":
 *   score threshold  = 0.75 at s=1 → 0.65 at s=50 (the FastestDet author's default) → 0.45 at
 *                      s=100, linear in each half. A detection at or above it is a strong hit.
 *   keep score       = threshold − 0.15 (never below the decoder floor 0.45): a weak hit, which
 *                      holds an object already confirmed but never confirms one.
 *   confirmation     = k strong hits among the last n looks: 4 of 6 (s ≤ 20), 3 of 5 (s ≤ 40),
 *                      2 of 4 (s ≤ 80), 1 of 1 above. Specificity at low sensitivity comes from
 *                      more looks agreeing rather than from a score the model rarely gives a
 *                      small or distant person (its scores vary by ±0.1 from look to look).
 *   The score is cls^0.4·obj^0.6 from fastestdet.ts.
 *
 * Image change:
 *   pixel difference = 40 − 30·(s−1)/99 gray levels (s=50: 25, near Frigate's 30)
 *   minimum area     = 2 % of the frame at s=1 down to 0.05 % at s=100, geometric
 *   confirm frames   = k = 4 at s=1 down to 1 at s=100, among the last k+1 frames (k > 1).
 */
export const SENSITIVITY_MIN = 1;
export const SENSITIVITY_MAX = 100;

/** `k` hits among the last `n` looks confirm an object (or a change). */
export interface Confirmation {
  k: number;
  n: number;
}

export interface ObjectThresholds {
  /** Strong hit: may confirm. */
  score: number;
  /** Weak hit: holds a confirmed object, confirms nothing. */
  keepScore: number;
  confirm: Confirmation;
}

export interface ChangeThresholds {
  pixelDiff: number;
  minAreaFraction: number;
  confirm: Confirmation;
}

/** 0 at sensitivity 1, 1 at 100; out-of-range and fractional input is clamped/rounded. */
function unit(sensitivity: number): number {
  const s = Math.round(Math.min(SENSITIVITY_MAX, Math.max(SENSITIVITY_MIN, sensitivity)));
  return (s - SENSITIVITY_MIN) / (SENSITIVITY_MAX - SENSITIVITY_MIN);
}

/** Score thresholds at s = 1, 50, 100 (linear between). */
const SCORE_AT: Record<ObjectClass, readonly [number, number, number]> = { human: [0.75, 0.65, 0.45], vehicle: [0.75, 0.65, 0.45] };
/** How far below the threshold a detection still holds a confirmed object. */
const KEEP_BAND = 0.15;
const CONFIRM_TIERS: ReadonlyArray<{ upTo: number } & Confirmation> = [
  { upTo: 20, k: 4, n: 6 },
  { upTo: 40, k: 3, n: 5 },
  { upTo: 80, k: 2, n: 4 },
  { upTo: 100, k: 1, n: 1 },
];

/** The lowest score any sensitivity accepts: the decoder's floor, so nothing is cut too early. */
export const SCORE_FLOOR = Math.min(SCORE_AT.human[2], SCORE_AT.vehicle[2]);

function level(sensitivity: number): number {
  return Math.round(Math.min(SENSITIVITY_MAX, Math.max(SENSITIVITY_MIN, sensitivity)));
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

export function objectThresholds(cls: ObjectClass, sensitivity: number): ObjectThresholds {
  const s = level(sensitivity);
  const [lo, mid, hi] = SCORE_AT[cls];
  const score = s <= 50 ? lo - ((lo - mid) * (s - 1)) / 49 : mid - ((mid - hi) * (s - 50)) / 50;
  const tier = CONFIRM_TIERS.find((t) => s <= t.upTo) ?? CONFIRM_TIERS[CONFIRM_TIERS.length - 1]!;
  return { score: round3(score), keepScore: round3(Math.max(SCORE_FLOOR, score - KEEP_BAND)), confirm: { k: tier.k, n: tier.n } };
}

export function changeThresholds(sensitivity: number): ChangeThresholds {
  const u = unit(sensitivity);
  const pixelDiff = Math.round(40 - 30 * u);
  const minAreaFraction = 0.02 * Math.pow(0.0005 / 0.02, u);
  const k = Math.max(1, Math.round(4 - 3 * u));
  return { pixelDiff, minAreaFraction, confirm: { k, n: k === 1 ? 1 : k + 1 } };
}
