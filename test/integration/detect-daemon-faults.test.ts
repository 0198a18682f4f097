import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { captureServices, detectionService } from '../../src/services.js';
import type { DetectionState } from '../../src/detect/state.js';
import { ledPattern } from '../../src/indicator/policy.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { detectBoard, detectDir, personClip, removeDetectDirs, staticClip } from './detect-daemon-media.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/** Real capture on real (or still) footage at real time, the detection service on top. */
let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  removeDetectDirs();
});

async function boot(settings: Record<string, unknown>, clips: { wide: string; ptz: string }, model?: (dir: string) => string) {
  const dir = detectDir({ detection: settings });
  const b = await bootSim({ dir, board: detectBoard(dir, clips, model?.(dir)), services: [coreCommands, ...captureServices, detectionService] });
  booted = b;
  const events: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  const detection = async (): Promise<DetectionState & { settings: unknown }> => {
    const r = await exec('detection.get');
    expect(r.ok).toBe(true);
    return (r as { result: DetectionState & { settings: unknown } }).result;
  };
  return { b, dir, events, exec, detection };
}

const ALL_ON = { human: { enabled: true }, vehicle: { enabled: true }, change: { enabled: true, sensitivity: 100 } };

describe('detection daemon: static scene, broken model, sleep', () => {
  it('a static scene: no change event and no inference, even at the highest change sensitivity', async () => {
    const still = staticClip();
    const { events, detection } = await boot(ALL_ON, { wide: still, ptz: still });
    await waitFor(async () => {
      const d = await detection();
      return d.model.status === 'ready' && (['wide', 'ptz'] as const).every((l) => (d.lenses[l]?.framesIn ?? 0) >= 25);
    }, 25_000, 250);
    const d = await detection();
    for (const lens of ['wide', 'ptz'] as const) {
      const st = d.lenses[lens]!;
      expect(st.objectDetection).toBe(true);
      expect(st.inferences).toBe(0);
      expect(st.changeFrames).toBe(0);
      // Every frame since the detector came up was judged static (the gate), none rate- or busy-dropped.
      expect(st.staticFrames).toBeGreaterThan(15);
      expect(st.dropped).toEqual({ rate: 0, busy: 0 });
    }
    expect(events.filter((e) => e.kind === 'detection')).toEqual([]);
  }, LONG_PROCESS_TEST_MS);

  it('a corrupt model: camera fault detect.model (fast red), no object detection, image change still makes events', async () => {
    const { b, events, detection } = await boot({ change: { enabled: true } }, { wide: personClip(), ptz: personClip() }, (dir) => {
      const f = join(dir, 'garbage.onnx');
      writeFileSync(f, Buffer.from('this is not an ONNX model, just garbage bytes'));
      return f;
    });
    await waitFor(() => !!b.sup.state.get().faults['detect.model'], 10_000);
    const fault = b.sup.state.get().faults['detect.model']!;
    expect(fault.kind).toBe('camera');
    expect(fault.message).toMatch(/garbage\.onnx: SHA-256 [0-9a-f]{64} does not match/);
    expect(fault.message).toContain('image change still works');
    expect(ledPattern(b.sup.state.get())).toMatchObject({ state: 'camera-exception', color: 'red', mode: 'fast' });
    expect((await detection()).model).toMatchObject({ status: 'failed', restarts: 0 });

    await waitFor(() => events.some((e) => e.type === 'change.start' && e.lens === 'wide'), 25_000, 100);
    const start = events.find((e) => e.type === 'change.start' && e.lens === 'wide')!;
    expect(start.data).toMatchObject({ alert: true, clip: { lens: 'wide', recorded: false, reason: 'no card in use (card absent)' } });
    // No card to keep the snapshot on: it travels in the event (small enough at this size).
    const snap = (start.data as { snapshot: { jpeg: string; bytes: number } }).snapshot;
    expect(Buffer.from(snap.jpeg, 'base64').subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(Buffer.from(snap.jpeg, 'base64').length).toBe(snap.bytes);
    const d = await detection();
    expect(d.lenses.wide).toMatchObject({ objectDetection: false, inferences: 0 });
    expect(d.lenses.wide!.framesIn).toBeGreaterThan(10);
    expect(events.filter((e) => /^(human|vehicle)\./.test(e.type))).toEqual([]);
  }, LONG_PROCESS_TEST_MS);

  it('sleep: open episodes end (reason sleep), then no detection and no events until the camera wakes; settings apply live', async () => {
    // Human detection off at first: the person walking in makes image-change events only.
    const { b, events, exec, detection } = await boot({ human: { enabled: false }, change: { enabled: true } }, { wide: personClip(), ptz: personClip() });
    await waitFor(() => events.some((e) => e.type === 'change.start'), 25_000, 100);
    expect(await exec('sleep.set', { on: true })).toMatchObject({ ok: true, result: { sleeping: true } });
    const asleep = events.length;
    const framesAsleep = (await detection()).lenses.wide!.framesIn;
    await new Promise((r) => setTimeout(r, 4000));
    expect(events.slice(asleep).filter((e) => e.kind === 'detection')).toEqual([]);
    // Whatever was open when sleep began was closed then, saying so.
    const closed = events.slice(0, asleep).filter((e) => e.kind === 'detection' && e.type.endsWith('.end'));
    expect(closed.some((e) => (e.data as { reason?: string }).reason === 'sleep')).toBe(true);
    const d = await detection();
    expect(d.sleeping).toBe(true);
    expect(d.lenses.wide!.framesIn).toBe(framesAsleep);
    expect(d.lenses.wide!.open).toEqual([]);
    expect(b.sup.state.get().sleeping).toBe(true);
    expect(events.filter((e) => e.type.startsWith('human.'))).toEqual([]);

    expect(await exec('sleep.set', { on: false })).toMatchObject({ ok: true, result: { sleeping: false } });
    // Switched on live: the next person is a human episode.
    expect(await exec('detection.set', { algorithm: 'human', enabled: true })).toMatchObject({ ok: true });
    const awake = events.length;
    await waitFor(() => events.slice(awake).some((e) => e.type === 'human.start'), 25_000, 100);
    expect((await detection()).lenses.wide!.framesIn).toBeGreaterThan(framesAsleep);
  }, LONG_PROCESS_TEST_MS);

  it('the camera switching its own lights: the image change that follows is ignored', async () => {
    const { b, events, detection } = await boot({ change: { enabled: true } }, { wide: personClip(), ptz: personClip() });
    let lastSwitch = 0;
    const light = (): void => {
      lastSwitch = Date.now();
      b.sup.bus.emit('lights.changing', { source: 'spotlight', on: true, ts: lastSwitch });
    };
    light();
    const timer = setInterval(light, 1000);
    try {
      // Past the person walking in (2.9-9 s into the clip) with a light switch every second.
      await waitFor(async () => ((await detection()).lenses.wide?.framesIn ?? 0) >= 45, 25_000, 250);
    } finally {
      clearInterval(timer);
    }
    const d = await detection();
    expect(d.lenses.wide).toMatchObject({ changeFrames: 0, inferences: 0 });
    expect(events.filter((e) => e.kind === 'detection')).toEqual([]);
    // Lights quiet again: the scene's next change is seen.
    await waitFor(() => events.some((e) => e.type === 'change.start'), 25_000, 100);
    expect(events.find((e) => e.type === 'change.start')!.ts).toBeGreaterThan(lastSwitch);
  }, LONG_PROCESS_TEST_MS);
});
