import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { captureServices } from '../../src/capture/services.js';
import { detectionService } from '../../src/detect/service.js';
import type { DetectionState } from '../../src/detect/state.js';
import { ledPattern } from '../../src/indicator/policy.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { detectBoard, detectDir, personClip, removeDetectDirs, staticClip } from './detect-daemon-media.js';

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
      expect(st.staticFrames).toBe(st.framesIn);
    }
    expect(events.filter((e) => e.kind === 'detection')).toEqual([]);
  }, 45_000);

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
    const d = await detection();
    expect(d.lenses.wide).toMatchObject({ objectDetection: false, inferences: 0 });
    expect(d.lenses.wide!.framesIn).toBeGreaterThan(10);
    expect(events.filter((e) => /^(human|vehicle)\./.test(e.type))).toEqual([]);
  }, 45_000);

  it('sleep: open episodes end (reason sleep), then no detection and no events until the camera wakes', async () => {
    const { b, events, exec, detection } = await boot({ change: { enabled: true } }, { wide: personClip(), ptz: personClip() });
    await waitFor(() => events.some((e) => e.type === 'human.start'), 25_000, 100);
    expect(await exec('sleep.set', { on: true })).toMatchObject({ ok: true, result: { sleeping: true } });
    const asleep = events.length;
    const framesAsleep = (await detection()).lenses.wide!.framesIn;
    await new Promise((r) => setTimeout(r, 4000));
    const during = events.slice(asleep).filter((e) => e.kind === 'detection');
    expect(during).toEqual([]);
    // Whatever was open when sleep began was closed then, saying so.
    const closed = events.slice(0, asleep).filter((e) => e.kind === 'detection' && e.type.endsWith('.end'));
    expect(closed.some((e) => (e.data as { reason?: string }).reason === 'sleep')).toBe(true);
    const d = await detection();
    expect(d.sleeping).toBe(true);
    expect(d.lenses.wide!.framesIn).toBe(framesAsleep);
    expect(d.lenses.wide!.open).toEqual([]);
    expect(b.sup.state.get().sleeping).toBe(true);

    expect(await exec('sleep.set', { on: false })).toMatchObject({ ok: true, result: { sleeping: false } });
    const awake = events.length;
    await waitFor(() => events.slice(awake).some((e) => e.kind === 'detection' && e.type.endsWith('.start')), 25_000, 100);
    expect((await detection()).lenses.wide!.framesIn).toBeGreaterThan(framesAsleep);
  }, 60_000);
});
