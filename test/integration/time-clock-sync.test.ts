import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { cloudService } from '../../src/cloud/service.js';
import { timeService } from '../../src/time/service.js';
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
