import type { Board } from '../../board/schema.js';
import { CamdError } from '../core/errors.js';

/**
 * Soft limits: the board's mechanical range (end stops) minus a margin on each side. Targets the
 * user gives (goto, tap-to-look, follow) and continuous moves stay inside them, so the head never
 * drives into its end stops, where it stalls, loses steps or wears the gears.
 *
 * Two kinds of target are exempt because the head has been there by construction: the board's
 * home position (homing may sit on an end stop, as the sim board's pan home at 0° does) and a
 * preset (a position queried from the controller). They are still clamped to the end stops.
 */
export const SOFT_MARGIN_DEG = 1;

export type BoardAxis = Board['ptz']['pan'];

export interface AxisLimits {
  /** Soft range. */
  min: number;
  max: number;
  /** Mechanical range (end stops). */
  hardMin: number;
  hardMax: number;
  home: number;
  maxSpeedDegS: number;
  stepDeg: number;
}

export function axisLimits(axis: BoardAxis): AxisLimits {
  // A range narrower than two margins keeps its middle rather than inverting.
  const margin = Math.min(SOFT_MARGIN_DEG, (axis.maxDeg - axis.minDeg) / 4);
  return {
    min: axis.minDeg + margin,
    max: axis.maxDeg - margin,
    hardMin: axis.minDeg,
    hardMax: axis.maxDeg,
    home: axis.homeDeg,
    maxSpeedDegS: axis.maxSpeedDegS,
    stepDeg: axis.stepDeg,
  };
}

/** Throws `invalid_args` naming the path when `value` is outside the soft range. */
export function checkSoft(value: number, l: AxisLimits, path: string): void {
  if (value >= l.min && value <= l.max) return;
  throw new CamdError('invalid_args', `${path}: ${value}° is outside the soft limits ${fmt(l.min)}..${fmt(l.max)}° (end stops ${fmt(l.hardMin)}..${fmt(l.hardMax)}° minus ${fmt(SOFT_MARGIN_DEG)}°)`, path);
}

export function clampSoft(value: number, l: AxisLimits): number {
  return Math.min(l.max, Math.max(l.min, value));
}

export function clampHard(value: number, l: AxisLimits): number {
  return Math.min(l.hardMax, Math.max(l.hardMin, value));
}

/** Rounds to the controller's resolution (Pelco-D carries hundredths of a degree). */
export function quantize(value: number, l: AxisLimits): number {
  return Math.round(value / l.stepDeg) * l.stepDeg;
}

/** Pelco-D speed byte range: 0x00..0x3F. */
export const MAX_SPEED_BYTE = 0x3f;

/** User speed 1..100 % → speed byte 1..63. */
export function speedByteFromPercent(pct: number): number {
  return Math.max(1, Math.min(MAX_SPEED_BYTE, Math.round((pct / 100) * MAX_SPEED_BYTE)));
}

/** Signed degrees per second → signed speed byte (0 when below half a step of speed). */
export function speedByteFromDegS(degS: number, l: AxisLimits): number {
  const b = Math.round((Math.abs(degS) / l.maxSpeedDegS) * MAX_SPEED_BYTE);
  return Math.sign(degS) * Math.min(MAX_SPEED_BYTE, b);
}

/** The speed a byte commands, as the receiver runs it (linear, 0x3F = maxSpeedDegS). */
export function degSFromSpeedByte(byte: number, l: AxisLimits): number {
  return (byte / MAX_SPEED_BYTE) * l.maxSpeedDegS;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}
