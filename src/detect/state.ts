import type { LensName } from '../../board/schema.js';
import type { DetectionType } from './types.js';

/**
 * State slice `detection` (written by the detection service, src/detect/service.ts). Counters
 * are republished every few seconds, not per frame (the cloud mirrors the state); episode
 * starts/ends and model changes publish at once.
 */
export interface DetectionModelState {
  /**
   * `loading`: the worker is starting; `ready`: human/vehicle detection runs; `restarting`: the
   * worker died and is being re-created (backoff); `failed`: no object detection (missing or
   * altered model, or the worker kept dying) — image change keeps working.
   */
  status: 'loading' | 'ready' | 'restarting' | 'failed';
  reason?: string;
  path: string;
  /** Worker re-creations since the daemon started. */
  restarts: number;
}

export interface LensDetectionState {
  /** Algorithms switched on for this lens (config detection.<type>.enabled). */
  enabled: DetectionType[];
  /** Whether human/vehicle detection can run on this lens now (model ready, RGB tap on, awake). */
  objectDetection: boolean;
  /** Tap frames (`capture.frame`: gray, and rgb when the RGB tap is on) that reached the pipeline. */
  framesIn: number;
  /** Frames in which the change detector found changed regions. */
  changeFrames: number;
  /** Frames without change and nothing tracked while object detection was on: no inference (the gate). */
  staticFrames: number;
  /** Frames with change that were not inferred: over detection.maxRatePerLens, or the lens's previous inference still running. */
  dropped: { rate: number; busy: number };
  /** Inference requests sent to the worker (keep-alive checks of still objects included). */
  inferences: number;
  /** Inferences that failed (worker died under them). */
  failed: number;
  /** Camera events sent for this lens. */
  events: number;
  lastEventAt?: number;
  /** Types with an episode open now. */
  open: DetectionType[];
  /** Frame ts → camera.event emitted (start/update), ms, over the last 200 events. */
  latencyMs?: { p50: number; p99: number; samples: number };
}

export interface DetectionState {
  model: DetectionModelState;
  /** True while the camera sleeps: no detection, no events. */
  sleeping: boolean;
  lenses: Partial<Record<LensName, LensDetectionState>>;
}

declare module '../state/store.js' {
  interface CamState {
    detection?: DetectionState;
  }
}
