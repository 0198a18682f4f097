import type { LensName } from '../../board/schema.js';

export type { LensName };
export type Orientation = 'normal' | 'flip' | 'mirror';

/** One plane of a tap frame: `width x height` pixels, rows packed, no padding. */
export interface TapPlane {
  width: number;
  height: number;
  /** Valid only while the handlers run: the buffer is pooled and reused for a later frame. Copy what you keep. */
  data: Buffer;
}

/**
 * One tap frame on the bus, `capture.frame`: both planes of one instant of one lens, in one
 * event (the contract is at the top of src/capture/tap.ts).
 */
export interface TapFrame {
  lens: LensName;
  /** Frame number within this run of the lens's pipeline (restarts at 0 when its ffmpeg restarts). */
  seq: number;
  /** Epoch ms when the frame reached the daemon (capture time, within a frame period). */
  ts: number;
  /** Luma, one byte per pixel: change detection, and the provisioning QR reader. */
  gray: TapPlane;
  /** Packed RGB, 3 bytes per pixel, the same instant and field of view; absent when the RGB tap is off (capture.tap.rgbWidth 0). */
  rgb?: TapPlane;
}

/**
 * `capture.tap.demand`: a reader of the tap needs a larger gray plane of one lens for a while
 * (the provisioning QR reader: the detectors' small plane cannot resolve a QR code at arm's
 * length). `gray: null` withdraws the owner's demand. The capture service restarts that lens's
 * pipeline with the largest plane asked for (one ffmpeg restart, so a cut segment, each time the
 * size changes) and back to the configured size when no demand is left. Demands are not kept
 * across a capture restart: an owner that sees frames smaller than it asked for asks again.
 */
export interface TapDemand {
  owner: string;
  lens: LensName;
  gray: { width: number; height: number } | null;
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
  /** Frames (gray + rgb paired, when the RGB tap is on) assembled from ffmpeg since the daemon started. */
  frames: number;
  /** Handed to the bus. */
  delivered: number;
  /** Dropped because the event loop had not delivered the previous frame yet (nobody kept up). */
  dropped: number;
  /** A gray frame whose rgb twin never came (or the other way round): the tap pairs the two outputs of its ffmpeg, once, before the bus. */
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
    /**
     * One event per tap frame of a lens: its gray plane and (RGB tap on) its RGB plane of the same
     * instant, already paired; buffers valid only while the handlers run (contract: src/capture/tap.ts).
     */
    'capture.frame': TapFrame;
    /** A larger gray plane of one lens wanted (or no longer: `gray: null`); see TapDemand. */
    'capture.tap.demand': TapDemand;
    /** A staging segment is complete: the recorder keeps or drops it. */
    'capture.segment': SegmentDone;
    /** Something failed to write to the card: look at it now rather than at the next poll. */
    'storage.check': { reason: string };
  }
}
