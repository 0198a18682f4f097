import type { LensName } from '../../board/schema.js';

export type { LensName };
export type Orientation = 'normal' | 'flip' | 'mirror';

/** One tap frame on the bus; see the contract at the top of src/capture/tap.ts. */
export interface TapFrame {
  lens: LensName;
  /** Epoch ms when the frame reached the daemon (capture time, within a frame period). */
  ts: number;
  /** Frame number within this run of the lens's pipeline; a gray and an rgb24 frame with the same seq show the same instant. */
  seq: number;
  width: number;
  height: number;
  format: 'gray' | 'rgb24';
  /** Valid only while the handlers run: the buffer is reused for a later frame. Copy what you keep. */
  data: Buffer;
}

/** A staging segment that ffmpeg has finished (or a cut-short one found after a crash). */
export interface SegmentDone {
  lens: LensName;
  /** Absolute path in the card's staging directory. */
  file: string;
  start: number;
  end: number;
  bytes: number;
  partial: boolean;
}

export interface TapStats {
  /** Frame pairs (gray + rgb) assembled from ffmpeg since the daemon started. */
  frames: number;
  /** Handed to the bus. */
  delivered: number;
  /** Dropped because the event loop had not delivered the previous frame yet (nobody kept up). */
  dropped: number;
  /** A gray frame whose rgb twin never came (or the other way round). */
  unpaired: number;
  /** Delivered frames per second over the last stats period. */
  fps: number;
  lastFrameAt?: number;
  gray: { width: number; height: number };
  rgb?: { width: number; height: number };
}

export interface LensCaptureState {
  status: 'starting' | 'running' | 'backoff' | 'failed' | 'stopped' | 'sleeping';
  pid?: number;
  /** This run writes segments to the card's staging area. */
  recording: boolean;
  orientation: Orientation;
  /** The main stream is re-encoded (orientation set); otherwise it is copied as the source sends it. */
  reencode: boolean;
  restarts: number;
  segments: number;
  lastSegmentAt?: number;
  lastError?: string;
  tap: TapStats;
}

declare module '../state/store.js' {
  interface CamState {
    capture?: Partial<Record<LensName, LensCaptureState>>;
  }
}

declare module '../state/bus.js' {
  interface BusEvents {
    /** Small raw frames for the detectors (contract: src/capture/tap.ts). */
    'capture.frame': TapFrame;
    /** A staging segment is complete: the recorder keeps or drops it. */
    'capture.segment': SegmentDone;
    /** Something failed to write to the card: look at it now rather than at the next poll. */
    'storage.check': { reason: string };
  }
}
