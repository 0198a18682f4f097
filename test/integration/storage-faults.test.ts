import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { episode } from '../harness/episode.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import type { CameraEvent } from '../../src/state/bus.js';
import type { RecordingEntry } from '../../src/storage/recording-index.js';
import type { StorageState } from '../../src/storage/types.js';
import { smallBoard, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { confirmed } from '../harness/confirm.js';

/**
 * The card's bad days on real file systems, with real ffmpeg recording both lenses onto it:
 * filled to the last byte (tmpfs, and ext4 on a loop device), remounted read-only under the
 * recorder, pulled out mid-recording and put back. Each test prints one line of figures.
 */

// ---- what this machine allows ------------------------------------------------------------------

function canMount(kind: 'tmpfs' | 'loop'): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: mounting a card needs root';
  const dir = mkdtempSync(join(tmpdir(), 'camd-mnt-probe-'));
  try {
    if (kind === 'tmpfs') {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    } else {
      const img = `${dir}.img`;
      execFileSync('truncate', ['-s', '4M', img]);
      execFileSync('mkfs.ext4', ['-q', '-F', img], { stdio: 'ignore' });
      try {
        execFileSync('mount', ['-o', 'loop', img, dir], { stdio: 'ignore' });
      } finally {
        rmSync(img, { force: true });
      }
    }
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `cannot mount ${kind === 'tmpfs' ? 'a tmpfs' : 'an ext4 loop image'} here: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const noTmpfs = canMount('tmpfs');
const noLoop = canMount('loop');
if (noTmpfs) console.warn(`storage-faults: tmpfs tests skipped: ${noTmpfs}`);
if (noLoop) console.warn(`storage-faults: loop-device tests skipped: ${noLoop}`);

// ---- cards ---------------------------------------------------------------------------------

interface Card {
  dir: string;
  kind: 'tmpfs' | 'ext4';
  /** Mounts it (again: a loop image keeps its content across a pull). */
  mount(): void;
  unmount(lazy?: boolean): void;
  /** ext4 only: check and repair the image (unmounted). */
  fsck?(): void;
  dispose(): void;
}

function tmpfsCard(dir: string, size: string): Card {
  return {
    dir,
    kind: 'tmpfs',
    mount: () => {
      mkdirSync(dir, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
    },
    unmount: (lazy = true) => execFileSync('umount', lazy ? ['-l', dir] : [dir], { stdio: 'ignore' }),
    dispose: () => unmountAll(dir),
  };
}

/** An ext4 image on a loop device (no blocks reserved for root: "0 bytes free" means it). */
function ext4Card(dir: string, megabytes: number, options = ''): Card {
  const img = `${dir}.img`;
  execFileSync('truncate', ['-s', `${megabytes}M`, img]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', img], { stdio: 'ignore' });
  return {
    dir,
    kind: 'ext4',
    mount: () => {
      mkdirSync(dir, { recursive: true });
      execFileSync('mount', ['-o', options ? `loop,${options}` : 'loop', img, dir]);
    },
    fsck: () => {
      try {
        execFileSync('e2fsck', ['-fy', img], { stdio: 'ignore' });
      } catch (err) {
        // 1 = errors corrected: the point of running it.
        if ((err as { status?: number }).status !== 1) throw err;
      }
    },
    unmount: (lazy = true) => execFileSync('umount', lazy ? ['-l', dir] : [dir], { stdio: 'ignore' }),
    dispose() {
      unmountAll(dir);
      rmSync(img, { force: true });
    },
  };
}

/** Takes every mount stacked on `dir` off (a failed test may leave a bind mount over the card). */
function unmountAll(dir: string): void {
  for (let i = 0; i < 5; i++) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      return;
    }
  }
}

const freeBytes = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** A file that is not a recording takes every last byte (dd stops at ENOSPC). */
function fillUp(dir: string, name = 'filler.bin'): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, name)}`, 'bs=64k', 'oflag=append', 'conv=notrunc'], { stdio: 'ignore' });
  } catch {
    // "No space left on device": the point.
  }
  // A block or two may have come free meanwhile (a segment dropped from staging): top it off.
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, name)}`, 'bs=1k', 'oflag=append', 'conv=notrunc'], { stdio: 'ignore' });
  } catch {
    // full again
  }
}

// ---- the daemon ------------------------------------------------------------------------------

let booted: BootedSim | undefined;
const cards: Card[] = [];
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  for (const c of cards.splice(0)) c.dispose();
  removeTestDirs();
});

async function bootWithCard(config: Record<string, unknown>, make: (dir: string) => Card) {
  const dir = testDir(config);
  const card = make(join(dir, 'card'));
  cards.push(card);
  card.mount();
  const events: CameraEvent[] = [];
  const statuses: { at: number; status: string; reason: string }[] = [];
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  const b = booted;
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  b.sup.state.subscribe((s, changed) => {
    if (!changed.has('storage') || !s.storage) return;
    const last = statuses.at(-1);
    if (last?.status !== s.storage.status || last.reason !== s.storage.reason) statuses.push({ at: Date.now(), status: s.storage.status, reason: s.storage.reason });
  });
  const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  expect(await confirmed(exec, 'storage.initialise')).toMatchObject({ ok: true, result: { status: 'in-use' } });
  const list = async (lens = 'wide'): Promise<RecordingEntry[]> => {
    const r = (await exec('recordings.list', { lens, to: Date.now() + 60_000 })) as { ok: boolean; result: { recordings: RecordingEntry[] } };
    return r.ok ? r.result.recordings : [];
  };
  const storage = (): StorageState | undefined => b.sup.state.get().storage;
  return { b, card, events, statuses, exec, list, storage };
}

/** Every entry's file is there with its size. */
function expectConsistent(dir: string, entries: RecordingEntry[]): void {
  for (const e of entries) {
    expect(existsSync(join(dir, e.file)), e.file).toBe(true);
    expect(statSync(join(dir, e.file)).size).toBe(e.bytes);
  }
}

// ---- the tests -----------------------------------------------------------------------------

describe('a full card (filled to 0 bytes free by a file that is not a recording)', () => {
  const cases: [string, string | undefined, (dir: string) => Card][] = [
    ['tmpfs', noTmpfs, (d) => tmpfsCard(d, '8m')],
    ['ext4 on a loop device', noLoop, (d) => ext4Card(d, 10)],
  ];
  for (const [fsName, skip, make] of cases) {
    it.skipIf(!!skip)(`${fsName}: retention frees space at once, the state never goes to error or full, both lenses record again`, async () => {
      const { b, card, events, statuses, list, storage } = await bootWithCard({ recording: { mode: 'continuous', minFreePercent: 5 } }, make);
      await waitFor(async () => (await list('wide')).length >= 8 && (await list('ptz')).length >= 8, 90_000);
      const before = [...(await list('wide')), ...(await list('ptz'))];
      const deletable = before.length;
      const filledAt = Date.now();
      fillUp(card.dir);
      const freeAfterFill = freeBytes(card.dir);
      const fromFill = statuses.length;

      await waitFor(() => events.some((e) => e.type === 'card.retention' && e.ts >= filledAt - 1000), 30_000);
      const freedAt = Date.now();
      // Recording goes on on both lenses: a segment that started after the card was full is kept.
      await waitFor(async () => (await list('wide')).some((r) => r.start > filledAt) && (await list('ptz')).some((r) => r.start > filledAt), 60_000);
      const resumedAt = Date.now();

      const after = [...(await list('wide')), ...(await list('ptz'))];
      expectConsistent(card.dir, after);
      const gone = before.filter((r) => !after.some((a) => a.file === r.file));
      expect(gone.length).toBeGreaterThan(0);
      // Oldest first, per lens.
      for (const lens of ['wide', 'ptz'] as const) {
        const keptOld = before.filter((r) => r.lens === lens && after.some((a) => a.file === r.file));
        for (const g of gone.filter((r) => r.lens === lens)) for (const k of keptOld) expect(g.start).toBeLessThan(k.start);
      }
      for (const g of gone) expect(existsSync(join(card.dir, g.file))).toBe(false);
      // Someone else's file is never ours to delete.
      expect(existsSync(join(card.dir, 'filler.bin'))).toBe(true);
      const seen = statuses.slice(fromFill).map((s) => s.status);
      expect(seen, JSON.stringify(statuses.slice(fromFill))).not.toContain('error');
      expect(seen).not.toContain('full');
      expect(storage()?.status).toBe('in-use');
      expect(b.sup.state.get().faults['storage.card']).toBeUndefined();
      expect(b.sup.state.get().lifecycle).toBe('running');
      // No temp file of an index rewrite was left on the card.
      const temps = execFileSync('find', [card.dir, '-name', '*.tmp']).toString().trim();
      expect(temps).toBe('');
      const freed = events.filter((e) => e.type === 'card.retention' && e.ts >= filledAt - 1000).reduce((n, e) => n + Number((e.data as { freedBytes: number }).freedBytes), 0);
      console.log(
        `full card (${fsName}): ${deletable} deletable recordings, ${freeAfterFill} bytes free after the filler; ` +
          `retention freed ${freed} bytes (${gone.length} recordings) ${freedAt - filledAt} ms after the card filled up; ` +
          `both lenses recording again after ${resumedAt - filledAt} ms; states after the fill: ${JSON.stringify(seen)}`,
      );
    }, 240_000);
  }

  it.skipIf(!!noTmpfs)('tmpfs: nothing left to delete → full (not error), also through a forced test write; space again → in use and recording', async () => {
    // Event mode with no event: nothing is kept, so nothing can be deleted.
    const { b, card, events, statuses, list, storage } = await bootWithCard({ recording: { mode: 'event', preRollSeconds: 2 } }, (d) => tmpfsCard(d, '4m'));
    await waitFor(() => (b.sup.state.get().recording?.lenses.wide?.dropped ?? 0) >= 1, 30_000);
    const filledAt = Date.now();
    fillUp(card.dir);
    await waitFor(() => storage()?.status === 'full', 30_000);
    const fullAt = Date.now();
    expect(storage()!.reason).toMatch(/no more recordings to delete/);
    expect(events.some((e) => e.type === 'card.full')).toBe(true);
    // A forced check (what a capture exit or a failed write asks for) runs the test write: ENOSPC
    // is a full card, not a broken one.
    booted!.sup.bus.emit('storage.check', { reason: 'test: forced check' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(storage()?.status).toBe('full');
    expect(statuses.filter((s) => s.at >= filledAt).map((s) => s.status)).not.toContain('error');
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 10_000);
    expect(b.sup.state.get().lifecycle).toBe('running');

    rmSync(join(card.dir, 'filler.bin'));
    const clearedAt = Date.now();
    await waitFor(() => storage()?.status === 'in-use', 10_000);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === true, 20_000);
    // Event recording works again.
    b.sup.bus.emit('detection.episode', episode('human', 'start'));
    await waitFor(async () => (await list('wide')).some((r) => r.end > clearedAt), 30_000);
    console.log(`full card, nothing to delete (tmpfs): full ${fullAt - filledAt} ms after the fill; states ${JSON.stringify(statuses.filter((s) => s.at >= filledAt).map((s) => s.status))}; in use and recording ${Date.now() - clearedAt} ms after the space came back`);
  }, 180_000);
});

describe('read-only remount and a pulled card, mid-recording', () => {
  it.skipIf(!!noTmpfs)('remount,ro mid-recording → error (read-only, fault, event; recording stops, commands refuse) → remount,rw → in use and recording again', async () => {
    const { b, card, events, list, storage, exec } = await bootWithCard({ recording: { mode: 'continuous' } }, (d) => tmpfsCard(d, '20m'));
    await waitFor(async () => (await list('wide')).length >= 2, 30_000);
    // The kernel refuses `remount,ro` (EBUSY) while ffmpeg holds segments open for writing, so
    // the card's path gets a bind mount of itself first and that one is remounted: from the
    // daemon's side it is the same (/proc/mounts says ro, every new write fails with EROFS),
    // while the files ffmpeg already has open do not block the remount.
    execFileSync('mount', ['--bind', card.dir, card.dir]);
    const roAt = Date.now();
    execFileSync('mount', ['-o', 'remount,bind,ro', card.dir]);
    await waitFor(() => storage()?.status === 'error', 10_000);
    const seenAt = Date.now();
    expect(storage()).toMatchObject({ readOnly: true, reason: 'card is mounted read-only' });
    expect(b.sup.state.get().faults['storage.card']).toMatchObject({ kind: 'camera', component: 'storage', message: 'card is mounted read-only' });
    expect(events.some((e) => e.type === 'card.readonly')).toBe(true);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false && b.sup.state.get().capture?.ptz?.recording === false, 10_000);
    expect(await exec('record.start', { lens: 'wide' })).toMatchObject({ ok: false, error: { code: 'unavailable', message: 'cannot record: card is error' } });
    expect(await exec('recordings.list', { lens: 'wide' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(b.sup.state.get().lifecycle).toBe('running');

    execFileSync('mount', ['-o', 'remount,bind,rw', card.dir]);
    const rwAt = Date.now();
    await waitFor(() => storage()?.status === 'in-use', 10_000);
    const inUseAt = Date.now();
    expect(b.sup.state.get().faults['storage.card']).toBeUndefined();
    await waitFor(async () => (await list('wide')).some((r) => r.start > rwAt) && (await list('ptz')).some((r) => r.start > rwAt), 60_000);
    expectConsistent(card.dir, [...(await list('wide')), ...(await list('ptz'))]);
    card.unmount(); // the bind mount; dispose() takes the tmpfs
    console.log(`read-only remount (tmpfs): error ${seenAt - roAt} ms after remount,ro; in use ${inUseAt - rwAt} ms and both lenses recording again ${Date.now() - rwAt} ms after remount,rw`);
  }, 180_000);

  it.skipIf(!!noLoop)("ext4's own read-only remount after an error (errors=remount-ro) mid-recording → error; the card re-inserted after fsck → in use, recording again", async () => {
    const { b, card, events, list, storage } = await bootWithCard({ recording: { mode: 'continuous' } }, (d) => ext4Card(d, 20, 'errors=remount-ro'));
    await waitFor(async () => (await list('wide')).length >= 2, 30_000);
    const before = await list('wide');
    const dev = execFileSync('findmnt', ['-n', '-o', 'SOURCE', card.dir]).toString().trim();
    const trigger = `/sys/fs/ext4/${dev.replace('/dev/', '')}/trigger_fs_error`;
    if (!existsSync(trigger)) {
      console.warn(`storage-faults: ${trigger} missing (kernel without it): ext4 error test skipped`);
      return;
    }
    const errAt = Date.now();
    writeFileSync(trigger, '1');
    await waitFor(() => storage()?.status === 'error', 10_000);
    const seenAt = Date.now();
    // Linux 6.x shows this as `emergency_ro` beside `rw` in /proc/mounts; a write says EROFS.
    expect(storage()).toMatchObject({ readOnly: true, reason: expect.stringMatching(/read-only/) });
    expect(events.some((e) => e.type === 'card.readonly')).toBe(true);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 10_000);
    expect(b.sup.state.get().lifecycle).toBe('running');

    // ext4 refuses remount,rw after an error until the file system is checked: what an owner
    // does is take the card out and put it back (here: unmount, e2fsck, mount).
    // A real unmount (not lazy): e2fsck must not run under a file system still alive.
    await waitFor(() => {
      try {
        card.unmount(false);
        return true;
      } catch {
        return false; // capture still lets go of its files
      }
    }, 20_000);
    await waitFor(() => storage()?.status === 'absent', 10_000);
    card.fsck!();
    card.mount();
    const backAt = Date.now();
    await waitFor(() => storage()?.status === 'in-use', 10_000);
    await waitFor(async () => (await list('wide')).some((r) => r.start > backAt), 60_000);
    const after = await list('wide');
    for (const r of before) expect(after.some((a) => a.file === r.file)).toBe(true);
    expectConsistent(card.dir, after);
    console.log(`ext4 error → read-only (loop device): error ${seenAt - errAt} ms after the fs error; after fsck and re-insert in use and recording again ${Date.now() - backAt} ms later`);
  }, 180_000);

  it.skipIf(!!noLoop)('ext4 card pulled (lazy unmount, ffmpeg still holding files) → absent, fault, no crash; put back → in use, old recordings listed, recording again', async () => {
    const { b, card, events, list, storage } = await bootWithCard({ recording: { mode: 'continuous' } }, (d) => ext4Card(d, 20));
    await waitFor(async () => (await list('wide')).length >= 2, 30_000);
    await new Promise((r) => setTimeout(r, 700)); // mid-segment
    const before = await list('wide');
    const pulledAt = Date.now();
    card.unmount(true);
    await waitFor(() => storage()?.status === 'absent', 10_000);
    const absentAt = Date.now();
    expect(b.sup.state.get().faults['storage.card']).toMatchObject({ kind: 'camera', message: 'card removed while in use' });
    expect(events.some((e) => e.type === 'card.removed')).toBe(true);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 10_000);
    let frames = 0;
    const off = b.sup.bus.on({ name: 'count' }, 'capture.frame', () => void frames++);
    await waitFor(() => frames > 6, 10_000);
    off();
    expect(b.sup.state.get().lifecycle).toBe('running');

    card.mount();
    const backAt = Date.now();
    await waitFor(() => storage()?.status === 'in-use', 10_000);
    expect(b.sup.state.get().faults['storage.card']).toBeUndefined();
    await waitFor(async () => (await list('wide')).some((r) => r.start > backAt), 60_000);
    const after = await list('wide');
    // Everything indexed before the pull is still there (the cut segment at most is lost or partial).
    for (const r of before) expect(after.some((a) => a.file === r.file)).toBe(true);
    expectConsistent(card.dir, after);
    console.log(`card pulled (ext4, lazy unmount): absent ${absentAt - pulledAt} ms after the pull; put back: in use and recording again ${Date.now() - backAt} ms later; ${before.length} recordings from before all listed`);
  }, 180_000);
});
