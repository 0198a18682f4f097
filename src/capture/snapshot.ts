import { promises as fs } from 'node:fs';
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import { CamdError } from '../core/errors.js';
import { CardLayout, dayOf } from '../domain/card-layout.js';
import type { LensName } from './types.js';

export interface StillResult {
  lens?: LensName;
  /** Epoch ms the image shows. */
  ts: number;
  bytes: number;
  /** Relative to the card's mount point; absent when no card is in use. */
  path?: string;
  /** Base64 JPEG: when asked for (`inline`) or when there is no card to keep it on. */
  jpeg?: string;
}

/** Event ids become part of a file name: keep them to a safe alphabet. */
export const EVENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A snapshot is a copy of the JPEG the lens's ffmpeg keeps fresh (full size, orientation
 * applied, replaced atomically once a second), so taking one costs a file copy, not an encode.
 * Kept on the card when one is in use; returned inline otherwise.
 */
export async function takeSnapshot(o: {
  lens: LensName;
  latestFile: string;
  now: number;
  maxAgeMs: number;
  cardMount?: string;
  eventId?: string;
  inline: boolean;
}): Promise<StillResult> {
  let jpeg: Buffer;
  let ts: number;
  try {
    const st = await fs.stat(o.latestFile);
    ts = Math.round(st.mtimeMs);
    jpeg = await fs.readFile(o.latestFile);
  } catch {
    throw new CamdError('unavailable', `no picture from the ${o.lens} lens yet: capture is starting or restarting`, 'lens');
  }
  if (o.now - ts > o.maxAgeMs) throw new CamdError('unavailable', `the ${o.lens} lens has sent no picture for ${Math.round((o.now - ts) / 1000)} s`, 'lens');
  const res: StillResult = { lens: o.lens, ts, bytes: jpeg.length };
  if (o.cardMount) {
    const dir = new CardLayout(o.cardMount).snapshots(o.lens, dayOf(ts));
    await fs.mkdir(dir, { recursive: true });
    const file = join(dir, `${ts}${o.eventId ? `-${o.eventId}` : ''}.jpg`);
    await writeFileAtomic(file, jpeg, 0o644);
    res.path = relative(o.cardMount, file);
  }
  if (o.inline || !o.cardMount) res.jpeg = jpeg.toString('base64');
  return res;
}

/** Stores a panorama like a snapshot. */
export async function keepPanorama(o: { file: string; ts: number; cardMount?: string; inline: boolean }): Promise<StillResult> {
  const jpeg = await fs.readFile(o.file);
  const res: StillResult = { ts: o.ts, bytes: jpeg.length };
  if (o.cardMount) {
    const dir = new CardLayout(o.cardMount).panoramas(dayOf(o.ts));
    await fs.mkdir(dir, { recursive: true });
    const dest = join(dir, `${o.ts}.jpg`);
    await writeFileAtomic(dest, jpeg, 0o644);
    res.path = relative(o.cardMount, dest);
  }
  if (o.inline || !o.cardMount) res.jpeg = jpeg.toString('base64');
  return res;
}
