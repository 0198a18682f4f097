import type { HeadHolder } from './head.js';
import type { AxisMotion } from './motion-model.js';

export type PtzMode = 'homing' | 'idle' | 'manual' | 'sweep' | 'patrol' | 'follow' | 'unavailable';

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
  /** Who holds the head's motor now (head.ts: HEAD_PRIORITY); null when nobody drives it. */
  head: HeadHolder | null;
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

/** Takes the 360° view's picture at `panDeg` (the queried pan once the lens has arrived). */
export type SweepShot = (index: number, panDeg: number) => Promise<void>;

/**
 * What the PTZ service offers other services through `ctx.ports.head`: capture's 360° view moves
 * the head only through this, so it is arbitrated with patrol, follow and manual control
 * (ptz/head.ts) and capture never touches the motor.
 */
export interface HeadPort {
  /**
   * Turns the PTZ lens to `shots` pan positions over its range, calls `shoot` at each and turns
   * it back. Answers `busy` when a higher-priority mover holds the head or takes it meanwhile,
   * `unavailable` when the head does not answer; resolves with the queried pan of each shot.
   */
  sweep(shots: number, shoot: SweepShot): Promise<{ positions: number[] }>;
}

declare module '../supervisor/service.js' {
  interface Ports {
    /** Set while the PTZ service runs and the PTZ head opened. */
    head?: HeadPort;
  }
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
