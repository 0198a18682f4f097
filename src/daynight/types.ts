/** Day = IR-cut filter in (colour); night = filter out, IR illuminator on (monochrome). */
export type Phase = 'day' | 'night';

/**
 * Why the camera is in its current phase:
 * - `boot` / `wake` / `mode`: a decision from one fresh reading (at start, after sleep mode, on
 *   the way back to `auto`), without the dwell: the filter position is unknown or stale then.
 * - `dark` / `light`: the filtered reading stayed past a threshold for the dwell.
 * - `forced`: `daynight.mode` is `day` or `night`.
 * - `no-sensor`: `auto` without a light sensor falls back to day (colour).
 */
export type SwitchReason = 'boot' | 'wake' | 'mode' | 'dark' | 'light' | 'forced' | 'no-sensor';

/** State slice `daynight`. */
export interface DayNightState {
  mode: 'auto' | 'day' | 'night';
  /** The phase last commanded; `unknown` until the first switch (the filter position is not sensed). */
  current: Phase | 'unknown';
  /** Last lux reading (rounded to 0.1 lx), null before the first one or without a sensor. */
  lux: number | null;
  /** Epoch ms of the last switch; null before the first one. */
  since: number | null;
  reason: SwitchReason | null;
  /** The camera's own spotlight or strobes are lit (or just went off): readings are ignored. */
  blinded: boolean;
  /** Sleep mode: no sampling, the filter stays where it is. */
  paused: boolean;
}

declare module '../state/store.js' {
  interface CamState {
    daynight?: DayNightState;
  }
}
