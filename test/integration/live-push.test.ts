import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import { ledPattern } from '../../src/indicator/policy.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { processesMentioning, smallBoard, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { freePort, Receiver } from '../unit/capture/receiver-fixture.js';
import { waitListening } from '../harness/listening.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.kill();
  await booted?.dispose();
  booted = undefined;
  removeTestDirs();
});

async function boot() {
  const dir = testDir();
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  const b = booted;
  const events: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  await waitFor(() => b.sup.state.get().capture?.wide?.status === 'running' && b.sup.state.get().capture?.ptz?.status === 'running', 15_000);
  /** ffmpeg processes pushing somewhere (their command line names a relay socket of this boot). */
  const pushers = () => processesMentioning(join(dir, 'run', 'relay-')).length;
  return { b, dir, events, exec, pushers };
}

function streams(file: string): { codec_type: string; width?: number; height?: number }[] {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,width,height', '-of', 'json', file]).toString();
  return (JSON.parse(out) as { streams: { codec_type: string; width?: number; height?: number }[] }).streams;
}

describe('live view push (real ffmpeg, a real receiving ffmpeg)', () => {
  it('refuses bad input precisely and changes nothing', async () => {
    const { b, exec, pushers } = await boot();
    const cases: [Record<string, unknown>, string][] = [
      [{ lenses: ['wide'], url: 'http://cloud.example/live' }, 'url'],
      [{ lenses: ['wide'], url: 'rtmp://' }, 'url'],
      [{ lenses: ['wide'], url: 'srt://cloud.example:9000 ; rm -rf /' }, 'url'],
      [{ lenses: ['wide'], url: 'file:///etc/passwd' }, 'url'],
      [{ lenses: ['tele'], url: 'rtmp://cloud.example/live' }, 'lenses[0]'],
      [{ lenses: [], url: 'rtmp://cloud.example/live' }, 'lenses'],
      [{ lenses: ['wide', 'wide'], url: 'rtmp://cloud.example/live' }, 'lenses'],
    ];
    for (const [args, path] of cases) {
      const r = await exec('live.start', args);
      expect(r, JSON.stringify(args)).toMatchObject({ ok: false, error: { code: 'invalid_args', path } });
    }
    expect(await exec('quality.set', { lens: 'wide', profile: 'uhd' })).toMatchObject({
      ok: false,
      error: { code: 'invalid_args', path: 'profile', message: 'profile "uhd" is not one of hd, sd for the wide lens' },
    });
    expect(await exec('quality.set', { lens: 'tele', profile: 'hd' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'lens' } });
    expect(await exec('live.stop', { id: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(b.sup.config.get().lenses.wide.quality).toBe('');
    expect(b.sup.state.get().liveViewers).toBe(0);
    expect(pushers()).toBe(0);
    // A URL nobody listens on: a precise failure, no viewer counted, no process left.
    const port = await freePort('tcp');
    const dead = await exec('live.start', { lenses: ['wide'], url: `rtmp://127.0.0.1:${port}/live/key` });
    expect(dead).toMatchObject({ ok: false, error: { code: 'unavailable', path: 'url' } });
    expect((dead as { error: { message: string } }).error.message).toMatch(/live push failed/);
    expect(b.sup.state.get().liveViewers).toBe(0);
    expect(pushers()).toBe(0);
  }, PROCESS_TEST_MS);

  it('mono push: video and microphone go out, LED solid blue; the viewer leaving ends it cleanly', async () => {
    const { b, dir, events, exec, pushers } = await boot();
    const port = await freePort('tcp');
    const rx = new Receiver(`rtmp://127.0.0.1:${port}/live/secret-key`, join(dir, 'rx-mono.ts'));
    receivers.push(rx);
    await waitListening(port, 'tcp'); // the viewer's ffmpeg is ready for the push
    const r = await exec('live.start', { lenses: ['wide'], url: `rtmp://127.0.0.1:${port}/live/secret-key` });
    expect(r).toMatchObject({ ok: true, result: { lenses: ['wide'], copy: true, profile: 'hd', audio: true } });
    // The stream key is a secret: not in the state.
    expect(JSON.stringify(b.sup.state.get().live)).not.toContain('secret-key');
    expect(b.sup.state.get().liveViewers).toBe(1);
    expect(ledPattern(b.sup.state.get())).toMatchObject({ state: 'live-view', color: 'blue', mode: 'solid' });
    await waitFor(() => existsSync(rx.file) && statSync(rx.file).size > 10_000, 15_000);
    const s = streams(rx.file);
    expect(s).toEqual(expect.arrayContaining([expect.objectContaining({ codec_type: 'video', width: 320, height: 180 }), expect.objectContaining({ codec_type: 'audio' })]));
    expect(pushers()).toBe(1);

    // The viewer goes away.
    await rx.kill();
    await waitFor(() => b.sup.state.get().liveViewers === 0, 20_000);
    expect(events.find((e) => e.type === 'live.ended')).toMatchObject({ kind: 'live', data: { reason: 'ended' } });
    await waitFor(() => pushers() === 0, 5000);
    expect(ledPattern(b.sup.state.get()).state).not.toBe('live-view');
  }, PROCESS_TEST_MS);

  it('sync push of both lenses at the chosen quality; live.stop and sleep end pushes', async () => {
    const { b, dir, events, exec, pushers } = await boot();
    expect(await exec('quality.set', { lens: 'wide', profile: 'sd' })).toMatchObject({ ok: true, result: { width: 160, height: 90 } });
    expect(b.sup.config.get().lenses.wide.quality).toBe('sd');
    const port = await freePort('udp');
    const rx = new Receiver(`srt://127.0.0.1:${port}`, join(dir, 'rx-sync.ts'));
    receivers.push(rx);
    await waitListening(port, 'udp');
    const r = (await exec('live.start', { lenses: ['wide', 'ptz'], url: `srt://127.0.0.1:${port}`, audio: false })) as { ok: boolean; result: { id: string } };
    expect(r).toMatchObject({ ok: true, result: { lenses: ['wide', 'ptz'], copy: false, profile: 'sd', audio: false } });
    await waitFor(() => existsSync(rx.file) && statSync(rx.file).size > 10_000, 15_000);
    // Both lenses side by side at the sd height.
    expect(streams(rx.file)).toEqual([expect.objectContaining({ codec_type: 'video', width: 320, height: 90 })]);
    expect(await exec('live.stop', { id: r.result.id })).toMatchObject({ ok: true, result: { stopped: [r.result.id] } });
    await waitFor(() => b.sup.state.get().liveViewers === 0 && pushers() === 0, 10_000);
    expect(events.find((e) => e.type === 'live.ended')).toMatchObject({ data: { reason: 'stopped' } });

    // Sleep mode ends a running push and refuses new ones.
    const port2 = await freePort('tcp');
    const rx2 = new Receiver(`rtmp://127.0.0.1:${port2}/live/k`, join(dir, 'rx-2.ts'));
    receivers.push(rx2);
    await waitListening(port2, 'tcp');
    expect(await exec('live.start', { lenses: ['ptz'], url: `rtmp://127.0.0.1:${port2}/live/k`, audio: false })).toMatchObject({ ok: true });
    expect(b.sup.state.get().liveViewers).toBe(1);
    await exec('sleep.set', { on: true });
    await waitFor(() => b.sup.state.get().liveViewers === 0 && pushers() === 0, 10_000);
    expect(await exec('live.start', { lenses: ['ptz'], url: `rtmp://127.0.0.1:${port2}/live/k` })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
  }, LONG_PROCESS_TEST_MS);
});
