import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { episode } from '../harness/episode.js';
import { waitFor } from '../harness/daemon.js';
import { alarmService } from '../../src/alarm/service.js';
import { detectionService } from '../../src/services.js';
import type { DetectionState } from '../../src/detect/state.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The detection service's commands and model check in the whole supervisor (no capture: no
 * frames needed), and the alarm honouring `alert: false`.
 */
let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  vi.useRealTimers();
});

describe('detection commands', () => {
  it('detection.set validates with the config schema, applies through the config, and detection.get shows it', async () => {
    const b = await bootSim({ services: [coreCommands, detectionService] });
    booted = b;
    const exec = (cmd: string, args: unknown) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
    await waitFor(() => b.sup.state.get().detection?.model.status === 'ready', 15_000);

    const got = (await exec('detection.get', {})) as { ok: true; result: DetectionState & { settings: any } };
    expect(got.ok).toBe(true);
    expect(got.result.settings).toEqual(b.sup.config.get().detection);
    expect(got.result.model).toMatchObject({ status: 'ready', restarts: 0 });
    expect(got.result.lenses.wide).toMatchObject({ enabled: ['human'], objectDetection: true, framesIn: 0, open: [] });

    const area = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]];
    const set = (await exec('detection.set', { algorithm: 'change', enabled: true, sensitivity: 20, areas: { wide: [area] } })) as { ok: true; result: any };
    expect(set.ok).toBe(true);
    expect(b.sup.config.get().detection.change).toEqual({ enabled: true, sensitivity: 20, areas: { wide: [area], ptz: [] } });
    expect(set.result.settings.change.sensitivity).toBe(20);
    // Applied to the running pipelines before the reply.
    expect(set.result.lenses.wide.enabled).toEqual(['human', 'change']);
    expect(b.sup.state.get().detection!.lenses.ptz!.enabled).toEqual(['human', 'change']);
    // Only the lens named changes its areas.
    await exec('detection.set', { algorithm: 'change', areas: { ptz: [area] } });
    expect(b.sup.config.get().detection.change.areas).toEqual({ wide: [area], ptz: [area] });

    const before = JSON.stringify(b.sup.config.get());
    const bad: [unknown, string, RegExp][] = [
      [{ algorithm: 'human', sensitivity: 0 }, 'sensitivity', /too small|>=1/],
      [{ algorithm: 'human', sensitivity: 101 }, 'sensitivity', /too big|<=100/],
      [{ algorithm: 'human', areas: { wide: [[[0, 0], [1, 1]]] } }, 'areas.wide[0]', /too small|>=3/],
      [{ algorithm: 'human', areas: { wide: [[[0, 0], [1.5, 0], [1, 1]]] } }, 'areas.wide[0][1][0]', /too big|<=1/],
      [{ algorithm: 'human', areas: { side: [] } }, 'areas.side', /unknown key/],
      [{ algorithm: 'person', enabled: true }, 'algorithm', /./],
      [{ algorithm: 'human' }, 'algorithm', /nothing to change/],
      [{ algorithm: 'human', enabled: 'yes' }, 'enabled', /./],
    ];
    for (const [args, path, message] of bad) {
      const r = (await exec('detection.set', args)) as { ok: false; error: { code: string; path: string; message: string } };
      expect(r.ok, JSON.stringify(args)).toBe(false);
      expect(r.error.code).toBe('invalid_args');
      expect(r.error.path).toBe(path);
      expect(r.error.message).toMatch(message);
    }
    // Nothing half-applied.
    expect(JSON.stringify(b.sup.config.get())).toBe(before);

    // A config change from elsewhere (camctl config set, the cloud shadow) reaches the pipelines too.
    await b.sup.config.patch({ detection: { human: { enabled: false } } }, 'test');
    expect(b.sup.state.get().detection!.lenses.wide!.enabled).toEqual(['change']);
  }, PROCESS_TEST_MS);

  it('a missing model is a camera fault detect.model naming the file', async () => {
    const b = await bootSim({
      services: [coreCommands, detectionService],
      board: (x) => ({ ...x, paths: { ...x.paths, model: join(x.paths.dataDir, 'no-such-model.onnx') } }),
    });
    booted = b;
    await waitFor(() => !!b.sup.state.get().faults['detect.model'], 10_000);
    expect(b.sup.state.get().faults['detect.model']).toMatchObject({ kind: 'camera', component: 'detection' });
    expect(b.sup.state.get().faults['detect.model']!.message).toMatch(/no-such-model\.onnx: file not found/);
    expect(b.sup.state.get().detection!.model).toMatchObject({ status: 'failed' });
    expect(b.sup.state.get().detection!.lenses.wide!.objectDetection).toBe(false);
  });
});

describe('alarm and the detection cooldown', () => {
  it('a start with alert:false (within the cooldown) switches nothing on; alert:true does', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const b = await bootSim({ services: [alarmService] });
    booted = b;
    await b.sup.config.patch({ lights: { human: { strobe: true, strobeSeconds: 10 } } }, 'test');
    const start = (alert: boolean): void => b.sup.bus.emit('detection.episode', episode('human', 'start', { id: randomUUID(), alert }));
    start(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, strobes: false });
    start(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(b.sup.state.get().alarm).toMatchObject({ active: true, strobes: true, source: 'human' });
  });
});
