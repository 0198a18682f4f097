import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyCard, probeCard, type CardProbe } from '../../../src/storage/card.js';
import { mountFor, parseMounts } from '../../../src/storage/mounts.js';

const MOUNTS = `/dev/root / ext4 rw,relatime 0 0
tmpfs /run tmpfs rw,nosuid 0 0
/dev/mmcblk1p1 /media/sd vfat rw,relatime 0 0
/dev/mmcblk1p1 /media/sd vfat ro,relatime 0 0
/dev/sda1 /media/sd\\040card ext4 rw 0 0
`;

describe('/proc/mounts', () => {
  it('finds the mount holding a path (the last of stacked mounts wins; octal escapes decoded)', () => {
    const m = parseMounts(MOUNTS);
    expect(mountFor(m, '/media/sd')).toMatchObject({ device: '/dev/mmcblk1p1', options: ['ro', 'relatime'] });
    expect(mountFor(m, '/media/sd/camd/rec')).toMatchObject({ mountPoint: '/media/sd' });
    expect(mountFor(m, '/media/sdx')).toMatchObject({ mountPoint: '/' });
    expect(mountFor(m, '/media/sd card/x')).toMatchObject({ device: '/dev/sda1' });
  });
});

describe('card classification', () => {
  const id = '0b7e1f4a-3c2d-4e5f-8a9b-1c2d3e4f5a6b';
  const present: CardProbe = { present: true, readOnly: false, totalBytes: 1000, freeBytes: 500, marker: { version: 1, cardId: id, initialisedAt: 1 } };
  it.each([
    [{ present: false, readOnly: false }, id, 'absent'],
    [{ ...present, error: 'card is mounted read-only', readOnly: true }, id, 'error'],
    [{ ...present, marker: null }, id, 'not-initialised'],
    [present, undefined, 'not-initialised'],
    [present, 'another-card', 'not-initialised'],
    [present, id, 'in-use'],
  ])('%#: → %s', (probe, own, want) => {
    expect(classifyCard(probe, own, 10).status).toBe(want);
  });

  it('low free space is flagged for retention, not called full', () => {
    const c = classifyCard({ ...present, freeBytes: 50 }, id, 10);
    expect(c).toMatchObject({ status: 'in-use', lowSpace: true });
    expect(c.freePercent).toBe(5);
  });
});

describe('probeCard on a directory card', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('absent, then present without a marker, then with a marker; a garbage marker is no marker', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camd-card-'));
    const card = join(dir, 'card');
    expect(await probeCard({ dir: card, requireMount: false, writeTest: true })).toMatchObject({ present: false });
    mkdirSync(card);
    const p = await probeCard({ dir: card, requireMount: false, writeTest: true });
    expect(p).toMatchObject({ present: true, readOnly: false, marker: null });
    expect(p.error).toBeUndefined();
    expect(p.totalBytes).toBeGreaterThan(0);
    writeFileSync(join(card, '.camd-card'), '{"version":1,"cardId":"0b7e1f4a-3c2d-4e5f-8a9b-1c2d3e4f5a6b","initialisedAt":5}');
    expect((await probeCard({ dir: card, requireMount: false, writeTest: true, ownCardId: '0b7e1f4a-3c2d-4e5f-8a9b-1c2d3e4f5a6b' })).marker).toMatchObject({ initialisedAt: 5 });
    writeFileSync(join(card, '.camd-card'), 'garbage');
    expect((await probeCard({ dir: card, requireMount: false, writeTest: false })).marker).toBeNull();
    // On a board the card must be a mount of its own.
    expect(await probeCard({ dir: card, requireMount: true, writeTest: false })).toMatchObject({ present: false });
  });
});
