import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import { ledPattern } from '../../src/indicator/policy.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { smallBoard, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { mountCard, remount, unmountCard } from '../unit/capture/card-fixture.js';
import { segmentBeingWritten } from '../harness/staging.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { confirmed } from '../harness/confirm.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
const mounts: string[] = [];
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  for (const m of mounts.splice(0)) unmountCard(m);
  removeTestDirs();
});

async function boot(config: Record<string, unknown> = {}) {
  const dir = testDir(config);
  const card = join(dir, 'card');
  const events: CameraEvent[] = [];
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  booted.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  const b = booted;
  const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  const status = () => b.sup.state.get().storage;
  return { b, dir, card, events, exec, status };
}

function initialise(exec: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>) {
  return confirmed(exec, 'storage.initialise');
}

describe('microSD card lifecycle (tmpfs as the card)', () => {
  it('absent → inserted (not initialised) → initialise with a token → in use; bad input changes nothing', async () => {
    const { card, dir, events, exec, status } = await boot();
    expect(status()).toMatchObject({ status: 'absent' });
    // Card absent: precise errors, nothing changed, no token handed out.
    expect(await exec('storage.initialise')).toMatchObject({ ok: false, error: { code: 'unavailable', message: 'no microSD card in the slot' } });
    expect(await exec('recordings.list', { lens: 'wide' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await exec('record.start', { lens: 'wide' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await exec('recordings.list', { lens: 'tele' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'lens' } });

    mountCard(card);
    mounts.push(card);
    await waitFor(() => status()?.status === 'not-initialised', 5000);
    expect(events.some((e) => e.type === 'card.inserted')).toBe(true);
    writeFileSync(join(card, 'holiday.jpg'), 'someone else\'s photo');

    // No token / a wrong token: nothing happens to the card.
    expect(await exec('storage.initialise', { confirm: 'not-a-token' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'confirm' } });
    expect(existsSync(join(card, 'holiday.jpg'))).toBe(true);
    expect(existsSync(join(card, '.camd-card'))).toBe(false);

    const r = (await initialise(exec)) as { ok: boolean; result: { cardId: string; status: string } };
    expect(r).toMatchObject({ ok: true, result: { status: 'in-use' } });
    expect(existsSync(join(card, 'holiday.jpg'))).toBe(false);
    const marker = JSON.parse(readFileSync(join(card, '.camd-card'), 'utf8')) as { cardId: string };
    expect(marker.cardId).toBe(r.result.cardId);
    expect(JSON.parse(readFileSync(join(dir, 'data', 'card-owner.json'), 'utf8'))).toMatchObject({ cardId: r.result.cardId });
    expect(status()).toMatchObject({ status: 'in-use', cardId: r.result.cardId, readOnly: false });
    expect(status()!.totalBytes).toBe(20 * 1024 * 1024);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['card.initialised', 'card.ready']));
    // Capture now records into staging.
    await waitFor(() => !!booted!.sup.state.get().capture?.wide?.recording, 5000);
  });

  it('a card the kernel remounted read-only is an error (fault, fast red, event); rw again → in use', async () => {
    const { b, card, events, exec, status } = await boot({ recording: { mode: 'continuous' } });
    mountCard(card);
    mounts.push(card);
    await waitFor(() => status()?.status === 'not-initialised', 5000);
    await initialise(exec);
    await waitFor(() => !!b.sup.state.get().capture?.wide?.recording, 5000);
    await remount(card, 'ro');
    await waitFor(() => status()?.status === 'error', 5000);
    expect(status()).toMatchObject({ readOnly: true });
    expect(b.sup.state.get().faults['storage.card']).toMatchObject({ kind: 'camera' });
    expect(ledPattern(b.sup.state.get())).toMatchObject({ state: 'camera-exception', color: 'red', mode: 'fast' });
    expect(events.some((e) => e.kind === 'storage' && e.type === 'card.readonly')).toBe(true);
    // Recording no longer pretends: capture stopped writing to the card, and says so.
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 5000);
    expect(await exec('record.start', { lens: 'wide' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(b.sup.state.get().lifecycle).toBe('running');

    await remount(card, 'rw');
    await waitFor(() => status()?.status === 'in-use', 5000);
    expect(b.sup.state.get().faults['storage.card']).toBeUndefined();
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === true, 5000);
  });

  it('a card pulled out while recording is a camera exception and an event, never a crash', async () => {
    const { b, card, events, exec, status } = await boot({ recording: { mode: 'continuous' } });
    mountCard(card);
    mounts.push(card);
    await waitFor(() => status()?.status === 'not-initialised', 5000);
    await initialise(exec);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === true, 10_000);
    // Really writing: ffmpeg has bytes of a segment on the card (not a guessed delay).
    await waitFor(() => (segmentBeingWritten(card, 'wide')?.bytes ?? 0) > 0, 10_000);
    unmountCard(card);
    await waitFor(() => status()?.status === 'absent', 5000);
    expect(b.sup.state.get().faults['storage.card']).toMatchObject({ kind: 'camera', message: 'card removed while in use' });
    expect(events.some((e) => e.type === 'card.removed')).toBe(true);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 5000);
    // Capture goes on without the card: the detectors still get frames.
    let frames = 0;
    b.sup.bus.on({ name: 'count' }, 'capture.frame', () => void frames++);
    await waitFor(() => frames > 6, 5000);
    expect(b.sup.state.get().lifecycle).toBe('running');

  });

  it('a card directory deleted under the daemon (sim card without a mount) is a removal too', async () => {
    const { b, card, events, exec, status } = await boot({ recording: { mode: 'continuous' } });
    mkdirSync(card);
    await waitFor(() => status()?.status === 'not-initialised', 5000);
    await initialise(exec);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === true, 5000);
    rmSync(card, { recursive: true, force: true });
    await waitFor(() => status()?.status === 'absent', 5000);
    expect(b.sup.state.get().faults['storage.card']).toMatchObject({ kind: 'camera' });
    expect(events.filter((e) => e.type === 'card.removed')).toHaveLength(1);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 5000);
    expect(b.sup.state.get().lifecycle).toBe('running');
  });

  it('factory reset removes the ownership marker: the recordings stay, but cannot be listed without initialising', async () => {
    const { b, card, dir, exec, status } = await boot({ recording: { mode: 'continuous' } });
    mountCard(card);
    mounts.push(card);
    await waitFor(() => status()?.status === 'not-initialised', 5000);
    await initialise(exec);
    await waitFor(() => (b.sup.state.get().recording?.lenses.wide?.kept ?? 0) >= 1, 10_000);
    const listed = (await exec('recordings.list', { lens: 'wide' })) as { result: { recordings: { file: string }[] } };
    const file = join(card, listed.result.recordings[0]!.file);
    expect(existsSync(file)).toBe(true);

    const res = await b.sup.factoryReset.run('test');
    expect(res.done).toContain('card-marker');
    expect(existsSync(join(card, '.camd-card'))).toBe(false);
    expect(existsSync(join(dir, 'data', 'card-owner.json'))).toBe(false);
    await b.sup.commands.execute('sleep.set', { on: false }, { source: 'local' });
    await waitFor(() => status()?.status === 'not-initialised', 5000);
    expect(existsSync(file)).toBe(true);
    expect(await exec('recordings.list', { lens: 'wide' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
  });
});
