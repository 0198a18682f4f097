import type { HoldSource } from './holds.js';
import type { AlarmPart } from './outputs.js';

/** What the alarm is doing now (state slice `alarm`). */
export interface AlarmState {
  /** A deterrent (manual Alarm or a detection's light/audio alert) is running. */
  active: boolean;
  /** Who started the running alarm (the most recent source); null when none runs. */
  source: Exclude<HoldSource, 'app' | 'hand'> | null;
  /** Epoch ms when the running alarm ends by itself; null when none runs. */
  until: number | null;
  strobes: boolean;
  siren: boolean;
  spotlight: boolean;
  spotlightBrightness: number | null;
  /** config alarm.maintenance: detections never switch lights or siren on. */
  maintenance: boolean;
  /** Parts this camera lacks (failed to open); the alarm runs with the rest. */
  missing: AlarmPart[];
  /** When each output goes off by itself (every hold has an end, see holds.ts); null = off. */
  offAt: { strobes: number | null; siren: number | null; spotlight: number | null };
}

declare module '../state/store.js' {
  interface CamState {
    alarm?: AlarmState;
  }
}

