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

/** A raw picture handed to capture to keep as an event's snapshot (packed RGB24, rows without padding). */
export interface RawPicture {
  width: number;
  height: number;
  data: Uint8Array;
  /** Epoch ms the picture shows. */
  ts: number;
}

/** What an event's snapshot should show: the frame that produced the event and where the object is. */
export interface EventStillRequest {
  lens: LensName;
  /** Names the files on the card (EVENT_ID_RE). */
  eventId: string;
  /** The event's frame time: the full-size still is used only when it was taken this close to it. */
  ts: number;
  /** The frame the detector looked at: encoded when no full-size still near `ts` exists. */
  picture?: RawPicture;
  /** Normalised box of the object: an annotated copy with it drawn is kept beside the snapshot (card only). */
  box?: { x: number; y: number; w: number; h: number };
  /**
   * Without a card the picture travels inline (base64) in the event: at most this many base64
   * characters. A larger one is re-encoded smaller (`reduced`) rather than left out.
   */
  maxInlineChars?: number;
}

/** The snapshot kept for an event. */
export interface EventStill {
  ts: number;
  bytes: number;
  width?: number;
  height?: number;
  /** `still`: the lens's full-size JPEG; `frame`: the detector's frame, encoded for the event. */
  source: 'still' | 'frame';
  /** On the card, relative to its mount point. */
  path?: string;
  /** Base64 JPEG, without a card. */
  jpeg?: string;
  /** The inline picture was made smaller to fit in the event (without a card). */
  reduced?: boolean;
  /** The copy with the box drawn on it (card only). */
  annotated?: { path: string; bytes: number };
}

/**
 * `ctx.ports.stills` (set while capture runs): an event's picture from the frame that produced it,
 * so the first alert of an episode carries one even right after capture (re)started.
 */
export interface StillsPort {
  forEvent(req: EventStillRequest): Promise<EventStill>;
}

declare module '../supervisor/service.js' {
  interface Ports {
    stills?: StillsPort;
  }
}
