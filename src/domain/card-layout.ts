import { join } from 'node:path';
import type { LensName } from '../../board/schema.js';

/**
 * Where things live on the card. Everything the daemon writes sits under `<mount>/camd/` except
 * the ownership marker, which sits at the card's root so a card is recognised at a glance:
 *
 *   .camd-card                          marker: { cardId, initialisedAt } (written by initialise)
 *   camd/staging/<lens>/<run>-NNNNNN.ts segments being written; kept or dropped afterwards
 *   camd/staging/<lens>/<run>.csv       ffmpeg's list of completed segments of one run
 *   camd/rec/<lens>/<YYYY-MM-DD>/<startMs>-<durationMs>.ts   kept recordings (UTC day)
 *   camd/rec/<lens>/<YYYY-MM-DD>/index.jsonl                  index of that day
 *   camd/snapshots/<lens>/<YYYY-MM-DD>/<ts>[-<eventId>].jpg
 *   camd/panorama/<YYYY-MM-DD>/<ts>.jpg
 *
 * A recording's file name alone gives its start and duration, so the index can always be rebuilt
 * from the directory (see RecordingIndex.reconcile).
 */
export const MARKER_FILE = '.camd-card';

export class CardLayout {
  constructor(readonly mount: string) {}

  get root(): string {
    return join(this.mount, 'camd');
  }
  get marker(): string {
    return join(this.mount, MARKER_FILE);
  }
  staging(lens: LensName): string {
    return join(this.root, 'staging', lens);
  }
  recDir(lens: LensName): string {
    return join(this.root, 'rec', lens);
  }
  recDay(lens: LensName, day: string): string {
    return join(this.recDir(lens), day);
  }
  snapshots(lens: LensName, day: string): string {
    return join(this.root, 'snapshots', lens, day);
  }
  panoramas(day: string): string {
    return join(this.root, 'panorama', day);
  }
  /** The whole tree of stills (snapshots + panoramas), for retention. */
  get stillsRoots(): string[] {
    return [join(this.root, 'snapshots'), join(this.root, 'panorama')];
  }
}

/** UTC day of an epoch-ms time: `2024-05-01`. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The ownership record on the flash: which card this camera initialised. */
export function ownerRecordFile(dataDir: string): string {
  return join(dataDir, 'card-owner.json');
}
