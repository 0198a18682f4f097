import type { LensName } from '../../board/schema.js';
import type { CardStatus } from './card.js';
import type { RecordReason } from './recording-index.js';
import type { ClipUploadState } from './upload.js';
import type { RecordingMode } from './windows.js';
import type { Progress } from '../domain/progress.js';

/** State slice `storage`: what the app shows for the microSD card. */
export interface StorageState {
  status: CardStatus;
  /** In words, for the app: why the card is in this state. */
  reason: string;
  mount: string;
  cardId?: string;
  readOnly: boolean;
  totalBytes?: number;
  freeBytes?: number;
  freePercent?: number;
  minFreePercent: number;
  /** An initialise is running (the card is being wiped/formatted). */
  initialising?: boolean;
  /** While an initialise runs: its phase (src/storage/initialise.ts), for camctl and the app. */
  initialise?: Progress;
  checkedAt: number;
  lastRetention?: { at: number; deletedRecordings: number; deletedStills: number; freedBytes: number };
}

export interface LensRecordingState {
  /** Segments of this lens are being kept right now. */
  active: boolean;
  reasons: RecordReason[];
  kept: number;
  /** Staging segments dropped because no window wanted them (event mode). */
  dropped: number;
  /** Staging segments waiting as possible pre-roll. */
  staging: number;
  lastKeptAt?: number;
  lastError?: string;
}

/** State slice `recording`. */
export interface RecordingState {
  mode: RecordingMode;
  lenses: Partial<Record<LensName, LensRecordingState>>;
}

declare module '../state/store.js' {
  interface CamState {
    storage?: StorageState;
    recording?: RecordingState;
    /** The running or the last `recordings.upload` (src/storage/upload.ts). */
    clipUpload?: ClipUploadState;
  }
}
