import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, removeDurably, writeFileAtomic } from '../core/atomic-file.js';
import { sleep } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import type { OnceRunner } from '../supervisor/runner.js';
import type { Context } from '../supervisor/service.js';
import type { CardMarker } from './card.js';
import { mountFor, readMounts } from './mounts.js';
import type { StorageState } from './types.js';
import { MARKER_FILE, ownerRecordFile } from '../domain/card-layout.js';
import '../capture/types.js';

/** What initialiseCard is doing, for state.storage.initialise (camctl shows it as progress). */
export type InitialisePhase = 'stopping recording' | 'formatting' | 'erasing' | 'writing the marker';

/**
 * Makes the card ours: wait until capture has stopped writing to it, erase it — on a board with
 * `system.formatCard` by running that argv (`{device}` and `{mount}` are replaced by
 * storage.cardDevice and the mount point; the command must leave the fresh file system mounted
 * again), on the sim board by deleting everything in the directory — then write the marker on
 * the card and the card id on the flash. Throws; the caller reports the state.
 */
export async function initialiseCard(ctx: Context, procs: OnceRunner, onPhase: (phase: InitialisePhase) => void = () => undefined): Promise<CardMarker> {
  const dir = ctx.paths.cardMount;
  onPhase('stopping recording');
  await waitCaptureOffCard(ctx);
  const format = ctx.board.system.formatCard;
  onPhase(format ? 'formatting' : 'erasing');
  if (format) {
    const args = format.map((a) => a.replaceAll('{device}', ctx.board.storage.cardDevice ?? '').replaceAll('{mount}', dir));
    await procs.run({ name: 'format-card', command: args[0]!, args: args.slice(1), timeoutMs: 300_000 });
  } else {
    for (const name of await fs.readdir(dir)) await fs.rm(join(dir, name), { recursive: true, force: true });
  }
  onPhase('writing the marker');
  const marker: CardMarker = { version: 1, cardId: randomUUID(), initialisedAt: ctx.clock.now() };
  await writeFileAtomic(join(dir, MARKER_FILE), `${JSON.stringify(marker)}\n`, 0o644);
  await fsyncDir(dir);
  await writeFileAtomic(ownerRecordFile(ctx.paths.dataDir), `${JSON.stringify({ cardId: marker.cardId, at: marker.initialisedAt })}\n`, 0o600);
  return marker;
}

/**
 * Factory reset: the marker leaves the card (if it is this camera's) and the card id leaves the
 * flash. The recordings stay on the card (see the storage service's notes).
 */
export async function forgetCard(ctx: Context, ownCardId: string | undefined): Promise<void> {
  const marker = join(ctx.paths.cardMount, MARKER_FILE);
  try {
    const m = JSON.parse(await fs.readFile(marker, 'utf8')) as Partial<CardMarker>;
    if (m.cardId && m.cardId === ownCardId) await removeDurably(marker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await removeDurably(ownerRecordFile(ctx.paths.dataDir));
}

/** Past this many files the count stops (a full card of short segments): `truncated` says so. */
const DESCRIBE_MAX_FILES = 50_000;

/**
 * What an initialise would erase, for the confirmation step (the owner decides on this): the
 * card's size and file system (when it is a mount of its own; the sim's card is a directory) and
 * what is on it — files and bytes counted by walking it, the top-level names by name.
 */
export async function describeCard(dir: string, st: StorageState): Promise<Record<string, unknown>> {
  const mount = mountFor(await readMounts().catch(() => []), dir);
  const own = mount !== undefined && mount.mountPoint === dir;
  const top = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n !== MARKER_FILE).sort();
  let files = 0;
  let bytes = 0;
  let truncated = false as boolean;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (files >= DESCRIBE_MAX_FILES) {
        truncated = true;
        return;
      }
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (p !== join(dir, MARKER_FILE)) {
        files++;
        bytes += (await fs.lstat(p).catch(() => undefined))?.size ?? 0;
      }
    }
  };
  await walk(dir);
  return {
    status: st.status,
    ...(st.cardId !== undefined && { cardId: st.cardId }),
    ...(own && st.totalBytes !== undefined && { totalBytes: st.totalBytes, freeBytes: st.freeBytes }),
    ...(own ? { fsType: mount.fsType, device: mount.device } : {}),
    files,
    bytes,
    ...(truncated ? { truncated: true } : {}),
    top: top.slice(0, 8),
    topCount: top.length,
  };
}

/** Capture drops its recording output when the card leaves `in-use`; wait for that (bounded). */
async function waitCaptureOffCard(ctx: Context): Promise<void> {
  const until = ctx.clock.now() + 10_000;
  while (Object.values(ctx.state.get().capture ?? {}).some((c) => c?.recording)) {
    if (ctx.clock.now() > until) throw new CamdError('busy', 'capture did not stop writing to the card');
    await sleep(ctx.clock, 100);
  }
}
