import type { LensName } from '../capture/types.js';

export interface LiveSessionState {
  id: string;
  lenses: LensName[];
  /** Redacted (src/core/redact.ts): credentials, stream keys and query values are secrets. */
  url: string;
  startedAt: number;
  profile: string;
  /** The stream goes out as recorded (no encode). */
  copy: boolean;
  audio: boolean;
  frames: number;
}

/** State slice `live`: the pushes running now and talk playback. */
export interface LiveState {
  sessions: LiveSessionState[];
  talk: { url: string; since: number; suspended: boolean; pid?: number } | null;
}

declare module '../state/store.js' {
  interface CamState {
    live?: LiveState;
  }
}
