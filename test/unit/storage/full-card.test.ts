import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { classifyCard, isReadOnlyMount, probeCard, type CardProbe } from '../../../src/storage/card.js';
import { parseMounts } from '../../../src/storage/mounts.js';
import { Recorder } from '../../../src/storage/recorder.js';
import { RecordingIndex } from '../../../src/storage/recording-index.js';
import { runRetention } from '../../../src/storage/retention.js';
import { KeepPolicy } from '../../../src/storage/windows.js';

/** A card full to the last byte: what must still work (on a real, tiny tmpfs; needs root). */

const ID = '0b7e1f4a-3c2d-4e5f-8a9b-1c2d3e4f5a6b';
const DAY1 = Date.UTC(2024, 4, 1, 10);
const DAY2 = Date.UTC(2024, 4, 2, 10);
const isRoot = process.getuid?.() === 0;

describe('classification and mount options (no I/O)', () => {
  const present: CardProbe = { present: true, readOnly: false, totalBytes: 1000, freeBytes: 500, marker: { version: 1, cardId: ID, initialisedAt: 1 } };
  it('a test write that found no space is low space (retention), never an error', () => {
    expect(classifyCard({ ...present, noSpace: true }, ID, 10)).toMatchObject({ status: 'in-use', lowSpace: true, reason: 'a test write found no space left' });
    expect(classifyCard({ ...present, freeBytes: 0, noSpace: true }, ID, 10)).toMatchObject({ status: 'in-use', lowSpace: true, reason: 'free space 0.0% below 10%' });
  });

  it("ext4's emergency read-only remount (Linux 6.x: `rw,…,emergency_ro`) is read-only", () => {
    const [m] = parseMounts('/dev/loop3 /media/sd ext4 rw,relatime,errors=remount-ro,emergency_ro 0 0\n');
    expect(isReadOnlyMount(m)).toBe(true);
    expect(isReadOnlyMount(parseMounts('/dev/loop3 /media/sd ext4 rw,relatime,errors=remount-ro 0 0\n')[0])).toBe(false);
    expect(isReadOnlyMount(parseMounts('/dev/loop3 /media/sd vfat ro,relatime 0 0\n')[0])).toBe(true);
  });
});

describe('the second look at the mounts (a card pulled mid-probe is absent, not "replaced")', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a card still mounted without a marker stays not-initialised; the race itself is storage-faults.test.ts', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camd-pull-'));
    const card = join(dir, 'card');
    mkdirSync(card);
    const mounts = join(dir, 'mounts');
    writeFileSync(mounts, `/dev/mmcblk1p1 ${card} vfat rw,relatime 0 0\n`);
    const p = await probeCard({ dir: card, requireMount: true, writeTest: false, mountsFile: mounts });
    expect(p).toMatchObject({ present: true, marker: null });
    expect(classifyCard(p, ID, 10).status).toBe('not-initialised');
    writeFileSync(mounts, '/dev/root / ext4 rw 0 0\n');
    expect(await probeCard({ dir: card, requireMount: true, writeTest: false, mountsFile: mounts })).toEqual({ present: false, readOnly: false });
  });
});

describe.skipIf(!isRoot)('on a tmpfs filled to 0 bytes free', () => {
  let dir: string;
  let card: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'camd-full-'));
    card = join(dir, 'card');
    mkdirSync(card);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', card]);
  });
  afterEach(() => {
    execFileSync('umount', ['-l', card]);
    rmSync(dir, { recursive: true, force: true });
  });

  const fill = (): void => {
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(card, 'filler.bin')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // ENOSPC: full
    }
  };
  const temps = (): string[] => execFileSync('find', [card, '-name', '*.tmp']).toString().split('\n').filter(Boolean);

  async function recordings(index: RecordingIndex, n: number, bytes = 20_000): Promise<void> {
    const staging = join(card, 'camd/staging/wide');
    mkdirSync(staging, { recursive: true });
    for (let i = 0; i < n; i++) {
      const f = join(staging, `r1-${i}.ts`);
      writeFileSync(f, Buffer.alloc(bytes, 1));
      await index.add('wide', f, { start: DAY1 + i * 2000, end: DAY1 + i * 2000 + 2000, bytes, reason: 'continuous' });
    }
  }

  it('the test write says noSpace (not an error) and leaves no probe file behind', async () => {
    writeFileSync(join(card, '.camd-card'), JSON.stringify({ version: 1, cardId: ID, initialisedAt: 1 }));
    fill();
    const p = await probeCard({ dir: card, requireMount: false, writeTest: true, ownCardId: ID });
    expect(p.error).toBeUndefined();
    expect(p).toMatchObject({ noSpace: true, freeBytes: 0, readOnly: false });
    expect(existsSync(join(card, '.camd-probe'))).toBe(false);
    expect(classifyCard(p, ID, 10)).toMatchObject({ status: 'in-use', lowSpace: true });
  });

  it('retention deletes part of a day although the index rewrite first meets ENOSPC; index and files agree; no temp left', async () => {
    const index = new RecordingIndex(card);
    await recordings(index, 6);
    fill();
    const r = await runRetention(index, ['wide'], 30_000);
    expect(r).toMatchObject({ deletedRecordings: 2, freedBytes: 40_000, exhausted: false });
    const left = await index.readDay('wide', '2024-05-01');
    expect(left.map((e) => e.start)).toEqual([2, 3, 4, 5].map((i) => DAY1 + i * 2000));
    const onDisk = readdirSync(join(card, 'camd/rec/wide/2024-05-01')).filter((n) => n.endsWith('.ts')).sort();
    expect(onDisk).toEqual(left.map((e) => e.file.split('/').at(-1)).sort());
    expect(temps()).toEqual([]);
    expect(readFileSync(join(card, 'camd/rec/wide/2024-05-01/index.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('a recording the full card cannot index goes back to staging, and is kept once there is room (Recorder.retryUnkept)', async () => {
    const index = new RecordingIndex(card);
    await recordings(index, 3);
    const errors: string[] = [];
    const recorder = new Recorder({
      policy: new KeepPolicy(() => ({ mode: 'continuous', preRollMs: 0, postRollMs: 0 })),
      index: () => index,
      now: () => DAY2,
      clockSynced: () => undefined,
      card: () => 'full',
      log: pino({ level: 'silent' }),
      onCardError: (reason) => void errors.push(reason),
    });
    const seg = join(card, 'camd/staging/wide/r2-000000.ts');
    writeFileSync(seg, Buffer.alloc(10_000, 2));
    fill();
    // A new day: its index file needs a block the card does not have.
    await recorder.onSegment({ lens: 'wide', file: seg, start: DAY2, end: DAY2 + 2000, bytes: 10_000, partial: false });
    expect(errors).toEqual([expect.stringMatching(/^keeping a recording failed: ENOSPC/)]);
    expect(existsSync(seg)).toBe(true);
    expect(await index.readDay('wide', '2024-05-02')).toEqual([]);
    expect(recorder.state('wide', 'continuous')).toMatchObject({ kept: 0, staging: 1, lastError: expect.stringMatching(/ENOSPC/) });

    rmSync(join(card, 'filler.bin'));
    await recorder.retryUnkept();
    expect((await index.readDay('wide', '2024-05-02')).map((e) => e.start)).toEqual([DAY2]);
    expect(existsSync(seg)).toBe(false);
    expect(recorder.state('wide', 'continuous')).toMatchObject({ kept: 1, staging: 0 });
    expect(recorder.state('wide', 'continuous').lastError).toBeUndefined();
  });
});
