import type { AxisMotion } from './motion-model.js';

export type PtzMode = 'homing' | 'idle' | 'manual' | 'patrol' | 'follow' | 'unavailable';

/** State slice `ptz`: where the lenses point and what drives them. Angles in degrees. */
export interface PtzState {
  /** The PTZ head answers and is homed: commands are accepted. */
  available: boolean;
  homed: boolean;
  pan: number;
  tilt: number;
  /** The wide lens's pan; null when its motor is not available. */
  widePan: number | null;
  wideAvailable: boolean;
  moving: boolean;
  mode: PtzMode;
  presets: string[];
  patrol: { enabled: boolean; followTarget: boolean; preset: string | null };
  /** The person being followed (wide-lens episode) and where the close-up aims. */
  target: { episodeId: string; pan: number; tilt: number } | null;
  /** Manual control pauses patrol/follow until this time (epoch ms). */
  manualUntil: number | null;
  calibrationPairs: number;
  /** Why the head (or the wide motor) is unavailable. */
  error?: string;
}

/**
 * The commanded motion of one motor, sent whenever it changes or a query corrects it: with
 * `positionAt(motion, t)` (motion-model.ts) any consumer — the detection tracker mapping boxes
 * of the moving PTZ lens — knows the lens's angle at the capture time of each frame.
 */
export interface PtzMotionEvent {
  motor: 'ptz' | 'widePan';
  pan: AxisMotion;
  tilt?: AxisMotion;
}

declare module '../state/store.js' {
  interface CamState {
    ptz?: PtzState;
  }
}

declare module '../state/bus.js' {
  interface BusEvents {
    'ptz.motion': PtzMotionEvent;
  }
}
