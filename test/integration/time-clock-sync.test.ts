import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { cloudService } from '../../src/cloud/service.js';
import { PROBE_INTERVAL_MS, timeService } from '../../src/time/service.js';
import { clockSynced } from '../../src/core/clock-sync.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { bootSim, type BootedSim } from '../harness/boot.js';

/**
 * A board without RTC before NTP answers, on the sim: `sim.clock {synced:false}` is the hook. Events
 * emitted meanwhile carry clockSynced:false; once the clock is synced a `clock.synced` event says so
 * and later events carry clockSynced:true. The outbox (what the cloud receives) is checked, not
 * just the bus.
 */
describe('clock synchronisation on the sim board', () => {
  let booted: BootedSim | undefined;
  afterEach(async () => {
    await booted?.dispose();
    booted = undefined;
  });

  it('marks events clockSynced:false until the probe says synced, then true', async () => {
    booted = await bootSim({ services: [coreCommands, timeService, cloudService] });
    const { sup } = booted;
    const seen: CameraEvent[] = [];
    sup.bus.on({ name: 'test' }, 'camera.event', (ev) => void seen.push(ev));
    const call = async (cmd: string, args: unknown): Promise<unknown> => {
      const r = await sup.commands.execute(cmd, args, { source: 'local' });
      if (!r.ok) throw new Error(`${cmd}: ${r.error.message}`);
      return r.result;
    };

    expect(sup.state.get().clock).toMatchObject({ synced: true, source: 'sim' });
    await call('sim.clock', { synced: false });
    expect(sup.state.get().clock?.synced).toBe(false);
    expect(clockSynced()).toBe(false);
    await call('sim.emit-event', { count: 2, kind: 'system', type: 'test.before' });

    await call('sim.clock', { synced: true });
    await call('sim.emit-event', { count: 1, kind: 'system', type: 'test.after' });

    const types = seen.map((e) => [e.type, e.clockSynced]);
    expect(types).toEqual([
      ['test.before', false],
      ['test.before', false],
      ['clock.synced', true],
      ['test.after', true],
    ]);
    // What leaves the device: the outbox lines (`seq kind prio ts crc payload`) carry the same field.
    // sim.emit-event replied once its events were on flash; the outbox writes in order.
    const dir = join(booted.dir, 'data', 'outbox');
    const lines = (await Promise.all((await readdir(dir)).filter((f) => f.startsWith('seg-')).map((f) => readFile(join(dir, f), 'utf8'))))
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l.split('\t')[5]!) as CameraEvent);
    expect(lines.map((e) => [e.type, e.clockSynced])).toEqual(types);
  });
});

/**
 * The board's path: `timedatectl` run by the OnceRunner (here a script on PATH that prints what a
 * file says), probed at start and once a minute (the interval under fake time) until it says yes.
 */
describe('clock synchronisation on a board (timedatectl)', () => {
  let booted: BootedSim | undefined;
  const path = process.env.PATH;
  let bin: string;
  afterEach(async () => {
    await booted?.dispose();
    booted = undefined;
    vi.useRealTimers();
    process.env.PATH = path;
    delete process.env.CAMD_FAKE_NTP;
    rmSync(bin, { recursive: true, force: true });
  });

  async function boot(answer: 'yes' | 'no'): Promise<{ sup: BootedSim['sup']; answer: (a: 'yes' | 'no') => void; steps: { stepMs: number }[]; seen: CameraEvent[] }> {
    bin = mkdtempSync(join(tmpdir(), 'camd-ntp-'));
    const file = join(bin, 'answer');
    writeFileSync(file, `${answer}\n`);
    writeFileSync(join(bin, 'timedatectl'), '#!/bin/sh\ncat "$CAMD_FAKE_NTP"\n');
    chmodSync(join(bin, 'timedatectl'), 0o755);
    process.env.PATH = `${bin}:${path ?? ''}`;
    process.env.CAMD_FAKE_NTP = file;
    // Only the probe interval runs on fake time; everything else (the probe child) is real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const steps: { stepMs: number }[] = [];
    const seen: CameraEvent[] = [];
    booted = await bootSim({ board: (b) => ({ ...b, system: { ...b.system, clock: 'timedatectl' } }), services: [coreCommands, timeService] });
    const { sup } = booted;
    sup.bus.on({ name: 'test' }, 'clock.stepped', (e) => void steps.push(e));
    sup.bus.on({ name: 'test' }, 'camera.event', (e) => void seen.push(e));
    return { sup, answer: (a) => writeFileSync(file, `${a}\n`), steps, seen };
  }

  it('synced at the first answer: the time taken as unsynchronised until then still ends with a step (so marks are dropped)', async () => {
    const { sup, steps } = await boot('yes');
    await vi.waitFor(() => expect(sup.state.get().clock).toMatchObject({ synced: true, source: 'timedatectl' }), { timeout: 20_000, interval: 50 });
    expect(steps).toHaveLength(1);
    expect(Math.abs(steps[0]!.stepMs)).toBeLessThan(1000);
    expect(clockSynced()).toBe(true);
  });

  it('not synced at first, synced at a later probe: one step, one clock.synced event carrying it, events before marked false', async () => {
    const { sup, answer, steps, seen } = await boot('no');
    await vi.waitFor(() => expect(sup.state.get().clock).toMatchObject({ synced: false, source: 'timedatectl' }), { timeout: 20_000, interval: 50 });
    expect(steps).toEqual([]);
    sup.bus.emit('camera.event', { id: 'before-1', ts: Date.now(), kind: 'system', type: 'test.before' });
    answer('yes');
    await vi.advanceTimersByTimeAsync(PROBE_INTERVAL_MS);
    await vi.waitFor(() => expect(sup.state.get().clock?.synced).toBe(true), { timeout: 20_000, interval: 50 });
    expect(steps).toHaveLength(1);
    expect(seen.map((e) => [e.type, e.clockSynced])).toEqual([['test.before', false], ['clock.synced', true]]);
    expect(seen[1]!.data).toMatchObject({ source: 'timedatectl', stepMs: steps[0]!.stepMs });
  });
});

