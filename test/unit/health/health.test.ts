import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../../harness/boot.js';
import { diskFor, readHealth } from '../../../src/health/readings.js';
import { healthService } from '../../../src/health/service.js';
import { coreCommands } from '../../../src/supervisor/core-commands.js';

const FAKE = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as ('setTimeout' | 'clearTimeout' | 'setInterval' | 'clearInterval' | 'Date')[] };
const dirs: string[] = [];
let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  vi.useRealTimers();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('health readings (systeminformation, this machine)', () => {
  it('reads CPU, memory, disks and uptime; a missing card directory fails only its own reading', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-health-'));
    dirs.push(dir);
    const h = await readHealth({ dataDir: dir, cardMount: join(dir, 'no-card-here') }, 1234);
    expect(h.at).toBe(1234);
    expect(h.cpu!.loadPercent).toBeGreaterThanOrEqual(0);
    expect(h.cpu!.loadPercent).toBeLessThanOrEqual(100);
    expect(h.cpu!.cores).toBeGreaterThan(0);
    expect(h.memory!.totalBytes).toBeGreaterThan(h.memory!.availableBytes);
    expect(h.uptimeSeconds).toBeGreaterThan(0);
    expect(h.disks.data).toMatchObject({ path: dir, isMountPoint: false });
    expect(h.disks.data!.sizeBytes).toBeGreaterThan(h.disks.data!.availableBytes);
    expect(h.disks.card).toBeNull();
    expect(h.errors['disk.card']).toMatch(/ENOENT/);
    // This VM has no thermal sensor: that is "not present", not an error.
    expect(h.errors.temperature).toBeUndefined();
    expect(h.temperatureC === null || typeof h.temperatureC === 'number').toBe(true);
  });

  it('picks the longest mount point holding the path, and says whether the path is the mount itself', async () => {
    const mounts = [
      { fs: '/dev/root', mount: '/', size: 100, used: 40, available: 60, use: 40 },
      { fs: '/dev/mmcblk1p1', mount: '/tmp', size: 10, used: 1, available: 9, use: 10 },
    ];
    expect(await diskFor('/tmp', mounts)).toMatchObject({ mount: '/tmp', isMountPoint: true, fs: '/dev/mmcblk1p1', sizeBytes: 10 });
    expect(await diskFor('/etc', mounts)).toMatchObject({ mount: '/', isMountPoint: false });
    await expect(diskFor('/etc', null)).rejects.toThrow('mount table unavailable');
  });
});

describe('health service', () => {
  it('samples into state.health at the configured interval on the clock, and follows a config change', async () => {
    vi.useFakeTimers(FAKE);
    booted = await bootSim({ services: [coreCommands, healthService] });
    const b = booted;
    await vi.waitFor(() => expect(b.sup.state.get().health).toBeDefined(), { timeout: 10_000, interval: 20 });
    const first = b.sup.state.get().health!;
    expect(first.memory!.totalBytes).toBeGreaterThan(0);
    // The sim's card directory is not a mount point: visible, not hidden.
    expect(first.disks.data).toMatchObject({ isMountPoint: false });

    await vi.advanceTimersByTimeAsync(29_000);
    expect(b.sup.state.get().health).toBe(first);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(() => expect(b.sup.state.get().health).not.toBe(first), { timeout: 10_000, interval: 5 });
    const second = b.sup.state.get().health!;
    expect(second.at - first.at).toBeGreaterThanOrEqual(30_000);

    const r = await b.sup.commands.execute('config.set', { patch: { health: { intervalSeconds: 5 } } }, { source: 'local' });
    expect(r.ok).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    await vi.waitFor(() => expect(b.sup.state.get().health).not.toBe(second), { timeout: 10_000, interval: 5 });
    expect(b.sup.state.get().health!.at - second.at).toBeLessThan(30_000);

    const bad = await b.sup.commands.execute('config.set', { patch: { health: { intervalSeconds: 1 } } }, { source: 'local' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'health.intervalSeconds' } });
  });
});
