import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { alarmService } from '../../src/alarm/service.js';
import { captureServices } from '../../src/services.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { smallBoard, testDir, toneWav, removeTestDirs } from '../unit/capture/media-fixture.js';
import { PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { analyseWav } from './live-fixtures.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  removeTestDirs();
});

async function boot() {
  const dir = testDir();
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, alarmService, ...captureServices] });
  const b = booted;
  const events: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  const local = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'local' });
  const cloud = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  return { b, dir, events, local, cloud, speaker: join(dir, 'speaker.wav') };
}

describe('talk: the app\'s audio on the speaker', () => {
  it('plays a URL\'s audio on the speaker (sim: a WAV the test reads back) at the owner\'s volume', async () => {
    const { b, dir, events, local, cloud, speaker } = await boot();
    const tone = toneWav(join(dir, 'app-voice.wav'), 440, 1.5);
    // The cloud may not point the speaker at local files; bad URLs are refused precisely.
    expect(await cloud('talk.start', { url: `file://${tone}` })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'url' } });
    expect(await cloud('talk.start', { url: 'ftp://example.com/a.wav' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'url' } });
    expect(b.sup.state.get().live?.talk).toBeNull();

    const r = await local('talk.start', { url: `file://${tone}` });
    expect(r).toMatchObject({ ok: true, result: { suspended: false } });
    expect(b.sup.state.get().live?.talk).toMatchObject({ suspended: false });
    await waitFor(() => b.sup.state.get().live?.talk === null, 15_000);
    expect(events.find((e) => e.type === 'talk.ended')).toMatchObject({ data: { reason: 'ended' } });
    const out = analyseWav(speaker);
    const src = analyseWav(tone);
    expect(out.seconds).toBeGreaterThan(1.3);
    expect(out.seconds).toBeLessThan(1.7);
    expect(Math.abs(out.hz - 440)).toBeLessThan(10);
    // audio.volume defaults to 80 %.
    expect(out.peak / src.peak).toBeGreaterThan(0.75);
    expect(out.peak / src.peak).toBeLessThan(0.85);
  }, PROCESS_TEST_MS);

  it('the siren wins: talk is suspended while it sounds and resumes after', async () => {
    const { b, dir, events, local } = await boot();
    const tone = toneWav(join(dir, 'long.wav'), 300, 30);
    expect(await local('talk.start', { url: `file://${tone}` })).toMatchObject({ ok: true });
    await waitFor(() => !!b.sup.state.get().live?.talk?.pid, 5000);
    const pid = b.sup.state.get().live!.talk!.pid!;
    expect(existsSync(`/proc/${pid}`)).toBe(true);

    expect(await local('alarm.start', { seconds: 60 })).toMatchObject({ ok: true });
    await waitFor(() => b.sup.state.get().live?.talk?.suspended === true, 5000);
    await waitFor(() => !existsSync(`/proc/${pid}`), 5000);
    expect(b.sup.state.get().live?.talk?.pid).toBeUndefined();
    expect(events.some((e) => e.type === 'talk.suspended')).toBe(true);

    expect(await local('alarm.stop')).toMatchObject({ ok: true });
    await waitFor(() => b.sup.state.get().live?.talk?.suspended === false && !!b.sup.state.get().live?.talk?.pid, 5000);
    const resumed = b.sup.state.get().live!.talk!.pid!;
    expect(resumed).not.toBe(pid);
    expect(existsSync(`/proc/${resumed}`)).toBe(true);

    // Starting talk while the siren sounds: accepted, but the speaker stays the siren's.
    await local('alarm.start', { seconds: 60 });
    expect(await local('talk.start', { url: `file://${tone}` })).toMatchObject({ ok: true, result: { suspended: true, pid: null } });
    await waitFor(() => !existsSync(`/proc/${resumed}`), 5000);
    expect(await local('talk.stop')).toMatchObject({ ok: true, result: { stopped: true } });
    expect(b.sup.state.get().live?.talk).toBeNull();
  }, PROCESS_TEST_MS);
});
