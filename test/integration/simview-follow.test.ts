import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ControlClient } from '../../src/cli/client.js';
import { controlServer } from '../../src/control/server.js';
import { storageService } from '../../src/storage/service.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { SimFollowItem } from '../../src/supervisor/sim-view-commands.js';
import { indicatorService } from '../../src/indicator/service.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { confirmed } from '../harness/confirm.js';

/**
 * The daemon side of the sim-view page: `sim.timeline.follow` streams timeline entries, state
 * changes and tracks over the control socket after its reply, holds no listener once the
 * follower hangs up (a page closed costs nothing), and exists only locally; `sim.card` moves the
 * sim card out of the slot and back, and storage sees it.
 */
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
});

/** The timeline's listener set (private): what every recorded entry costs. */
const timelineListeners = (b: BootedSim): number => (b.sup.hardware.sim!.timeline as unknown as { listeners: Set<unknown> }).listeners.size;

describe('sim.timeline.follow', () => {
  it('streams GPIO edges and state changes after its reply; nothing stays subscribed after the hang-up', async () => {
    const b = (booted = await bootSim({ services: [controlServer, coreCommands, indicatorService] }));
    const before = timelineListeners(b);
    const c = await ControlClient.connect(b.sup.paths.socket);
    const items: SimFollowItem[] = [];
    const reply = await c.request('sim.timeline.follow', { stateKeys: ['liveViewers', 'presence'] }, (i) => void items.push(i as SimFollowItem));
    expect(reply).toMatchObject({ ok: true, result: { following: 'sim', levels: expect.any(Object) } });
    expect(Object.keys((reply as { result: { state: object } }).result.state).sort()).toEqual(['liveViewers', 'presence']);
    expect(timelineListeners(b)).toBe(before + 1);

    // The LED blinks: its edges arrive as they are recorded, with their timeline time.
    expect(await b.sup.commands.execute('led.test', { color: 'red', mode: 'fast', seconds: 5 }, { source: 'local' })).toMatchObject({ ok: true });
    await waitFor(() => items.filter((i) => i.type === 'timeline' && i.entry.kind === 'gpio' && i.entry.name === 'ledRed').length >= 4, 10_000);
    const edges = items.flatMap((i) => (i.type === 'timeline' && i.entry.kind === 'gpio' && i.entry.name === 'ledRed' ? [i.entry] : []));
    const recorded = b.sup.hardware.sim!.timeline.entries({ kind: 'gpio', source: 'ledRed' });
    expect(edges[0]).toEqual(recorded.find((e) => e.t === edges[0]!.t && e.kind === 'gpio' && e.value === edges[0]!.value));
    // Only the state slices asked for.
    b.sup.state.set('liveViewers', 3);
    b.sup.state.set('sleeping', true);
    await waitFor(() => items.some((i) => i.type === 'state' && i.changed.includes('liveViewers')), 5000);
    expect(items.filter((i) => i.type === 'state').flatMap((i) => (i.type === 'state' ? i.changed : []))).not.toContain('sleeping');
    expect(items.find((i) => i.type === 'state')).toMatchObject({ state: { liveViewers: 3 } });

    c.close();
    await waitFor(() => timelineListeners(b) === before, 5000);
    b.sup.state.set('liveViewers', 0);
  });

  it('is local only, and needs the socket to stream', async () => {
    const b = (booted = await bootSim({ services: [controlServer, coreCommands] }));
    expect(await b.sup.commands.execute('sim.timeline.follow', {}, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
    expect(await b.sup.commands.execute('sim.timeline.follow', {}, { source: 'local' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await b.sup.commands.execute('sim.timeline.follow', { kinds: ['usb'] }, { source: 'local' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'kinds[0]' } });
  });
});

describe('sim.card', () => {
  it('pulls the card directory out of the slot with what is on it, and puts it back', async () => {
    const b = (booted = await bootSim({ services: [controlServer, coreCommands, storageService] }));
    const slot = b.sup.paths.cardMount;
    const status = () => b.sup.state.get().storage?.status;
    expect(await b.sup.commands.execute('sim.card', { inserted: true }, { source: 'local' })).toMatchObject({ ok: true, result: { inserted: true } });
    await waitFor(() => status() === 'not-initialised', 10_000);
    expect(await confirmed((cmd, args) => b.sup.commands.execute(cmd, args, { source: 'local' }), 'storage.initialise')).toMatchObject({ ok: true });
    await waitFor(() => status() === 'in-use', 10_000);

    expect(await b.sup.commands.execute('sim.card', { inserted: false }, { source: 'local' })).toMatchObject({ ok: true, result: { inserted: false } });
    expect(existsSync(slot)).toBe(false);
    expect(existsSync(join(`${slot}.out`, '.camd-card'))).toBe(true);
    await waitFor(() => status() === 'absent', 10_000);
    // Pulling an absent card again changes nothing.
    expect(await b.sup.commands.execute('sim.card', { inserted: false }, { source: 'local' })).toMatchObject({ ok: true });

    // Back in: the same card, still this camera's.
    expect(await b.sup.commands.execute('sim.card', { inserted: true }, { source: 'local' })).toMatchObject({ ok: true });
    await waitFor(() => status() === 'in-use', 10_000);
    expect(await b.sup.commands.execute('sim.card', { inserted: true }, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
  });
});
