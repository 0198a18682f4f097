import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import { timeService } from '../../src/time/service.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { smallBoard, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { mountCard, unmountCard } from '../unit/capture/card-fixture.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { confirmed } from '../harness/confirm.js';

vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
const mounts: string[] = [];
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  for (const m of mounts.splice(0)) unmountCard(m);
  removeTestDirs();
});

interface Rec {
  start: number;
  end: number;
  file: string;
  clockSynced?: boolean;
}

/** Days behind: the recordings change day directories. A small step: nothing may be left marked. */
const STEPS = [3 * 86_400_000, 400];

/**
 * A board without RTC records before NTP answers: its recordings are marked (`u` in the name,
 * clockSynced:false in the index and listings) and, once the clock is synchronised, moved by the
 * step to their right times — on real ffmpeg segments, a tmpfs card, the daemon's own services.
 * The sim's clock is set STEP behind (`sim.clock {synced:false, behindMs}`) and stepped right
 * (`{synced:true}`) as NTP would; the time service measures the step against the monotonic clock,
 * as on a board.
 */
describe('recordings made while the clock is not synchronised', () => {
  it.each(STEPS)('are marked, then re-dated by the step (%i ms) once it is; later segments follow on', async (STEP) => {
    const dir = testDir({ recording: { mode: 'continuous' } });
    const card = join(dir, 'card');
    booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, timeService, ...captureServices] });
    const b = booted;
    const events: CameraEvent[] = [];
    b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
    const exec = async (cmd: string, args: Record<string, unknown> = {}): Promise<unknown> => {
      const r = await b.sup.commands.execute(cmd, args, { source: 'local' });
      if (!r.ok) throw new Error(`${cmd}: ${r.error.code}: ${r.error.message}`);
      return r.result;
    };
    const list = async (from = 0, to = Date.now() + 10 * 86_400_000): Promise<Rec[]> => ((await exec('recordings.list', { lens: 'wide', from, to })) as { recordings: Rec[] }).recordings;

    mountCard(card);
    mounts.push(card);
    await waitFor(() => b.sup.state.get().storage?.status === 'not-initialised', 10_000);
    await confirmed((cmd, args) => b.sup.commands.execute(cmd, args, { source: 'local' }), 'storage.initialise');

    await exec('sim.clock', { synced: false, behindMs: STEP });
    const unsyncedFrom = Date.now();
    await waitFor(async () => (await list()).filter((r) => r.clockSynced === false).length >= 2, 60_000);
    const before = (await list()).filter((r) => r.clockSynced === false);
    for (const r of before) expect(r.file).toMatch(/-[cem]p?u\.ts$/);

    await exec('sim.clock', { synced: true });
    // The time service measured the step against the monotonic clock, as on a board.
    const stepMs = (events.find((e) => e.type === 'clock.synced')?.data as { stepMs: number } | undefined)?.stepMs ?? NaN;
    expect(Math.abs(stepMs - STEP)).toBeLessThan(Math.min(1000, STEP / 2));
    // Every one of them moves by exactly the step and loses its mark; nothing is lost or doubled.
    await waitFor(async () => !(await list()).some((r) => r.clockSynced === false), 30_000);
    const after = await list();
    for (const r of before) {
      const moved = after.filter((a) => a.start === r.start + stepMs && a.end === r.end + stepMs);
      expect(moved, `re-dated ${r.file}`).toHaveLength(1);
      expect(moved[0]!.file).not.toMatch(/u\.ts$/);
      expect(moved[0]!.clockSynced).toBeUndefined();
    }
    // Nothing is left at the wrong (behind) times.
    expect(after.filter((a) => a.start < unsyncedFrom - 60_000)).toHaveLength(0);
    // The files on the card: the old names are gone, the new ones are where the index says.
    const onCard = new Set(after.map((a) => a.file));
    for (const r of before) expect(onCard.has(r.file)).toBe(false);
    for (const a of after) expect(readdirSync(join(card, a.file, '..'))).toContain(a.file.split('/').pop());

    // Capture re-anchored its run: the next segments carry the stepped time, right after the re-dated ones.
    const syncedAt = Date.now();
    await waitFor(async () => (await list()).some((r) => r.start > syncedAt), 60_000);
    // Every segment: right times, no mark, and no overlap or hole between the behind and the right ones.
    const all = await list();
    for (const r of all) expect(r.clockSynced).toBeUndefined();
    for (let i = 1; i < all.length; i++) expect(all[i]!.start - all[i - 1]!.end, `${all[i - 1]!.file} → ${all[i]!.file}`).toBeGreaterThan(-1500);
    expect(all.every((r) => r.start > unsyncedFrom - 60_000 && r.start < Date.now() + 60_000)).toBe(true);
  });
});
