import { describe, expect, it, vi } from 'vitest';
import { queuedWrites } from '../../drivers/serial/write-queue.js';
import { positionAt } from '../../src/ptz/motion-model.js';
import type { PtzMotionEvent } from '../../src/ptz/types.js';
import { bootPtz, displace, settle, type PtzRig, rigHooks } from '../unit/ptz/sim-rig.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let rig: PtzRig | undefined;
rigHooks(
  () => rig,
  () => (rig = undefined),
);

describe('homing', () => {
  it('goes to the board home positions at boot and verifies them by query', async () => {
    let started = 0;
    rig = await bootPtz({
      before: async (b) => {
        const t = b.sup.hardware.sim!.twins;
        await displace(t.ptz!, 200, 40);
        await displace(t.widePan!, 20);
        started = Date.now();
      },
    });
    const { head, wide, svc } = rig;
    expect(head.position()).toEqual({ pan: 0, tilt: 0 });
    expect(wide.position().pan).toBe(170);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ available: true, homed: true, wideAvailable: true, pan: 0, tilt: 0, widePan: 170, moving: false, mode: 'idle' });
    // The head went there by absolute gotos, and was then asked where it is.
    const gotos = head.moves.filter((m) => m.kind === 'goto' && m.t >= started).map((m) => [m.axis, m.target]);
    expect(gotos).toEqual([
      ['pan', 0],
      ['tilt', 0],
    ]);
    // Arrival was checked by asking the controller (query pan 0x51) after the goto.
    const frames = head.frames.map((f) => f.cmd2);
    expect(frames.lastIndexOf(0x51)).toBeGreaterThan(frames.lastIndexOf(0x4b));
    expect(wide.moves.filter((m) => m.kind === 'goto' && m.t >= started).map((m) => m.target)).toEqual([170]);
    expect(svc.slots.head.homed).toBe(true);
  });

  it('refuses commands while homing with busy', async () => {
    rig = await bootPtz({ home: false, before: async (b) => displace(b.sup.hardware.sim!.twins.ptz!, 300, 0) });
    expect(await rig.run('ptz.goto', { pan: 10 })).toMatchObject({ ok: false, error: { code: 'busy' } });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'homing', homed: false });
  });
});

describe('goto and soft limits', () => {
  it('goes to an absolute position and answers on arrival with the queried position', async () => {
    rig = await bootPtz();
    const res = await rig.exec('ptz.goto', { pan: 123.45, tilt: 20.5 });
    expect(res).toEqual({ ok: true, result: { arrived: true, pan: 123.45, tilt: 20.5, error: { pan: 0, tilt: 0 } } });
    expect(rig.head.position()).toEqual({ pan: 123.45, tilt: 20.5 });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ pan: 123.45, tilt: 20.5, moving: false, mode: 'manual' });
  });

  it('rejects targets outside the soft limits, or malformed, with the path; nothing moves', async () => {
    rig = await bootPtz();
    const before = rig.head.frames.length;
    const cases: [unknown, string][] = [
      [{ pan: 354.5 }, 'pan'],
      [{ pan: 0.5, tilt: 10 }, 'pan'],
      [{ pan: 100, tilt: 89.5 }, 'tilt'],
      [{ pan: 100, tilt: -9.5 }, 'tilt'],
      [{ pan: 'left' }, 'pan'],
      [{ pan: 10, zoom: 2 }, 'zoom'],
      [{}, 'pan'],
    ];
    for (const [args, path] of cases) {
      const r = await rig.run('ptz.goto', args);
      expect(r, JSON.stringify(args)).toMatchObject({ ok: false, error: { code: 'invalid_args', path } });
    }
    const r = await rig.run('ptz.goto', { pan: 400 });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'pan' } });
    expect(rig.head.frames.length).toBe(before);
    expect(await rig.run('wide.pan', { deg: 340 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'deg', message: expect.stringContaining('1..339') } });
    expect(await rig.run('ptz.move', { direction: 'sideways' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'direction' } });
    expect(await rig.run('ptz.move', { direction: 'left', speed: 0 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'speed' } });
  });

  it('a continuous move stops at the soft limit, never at the end stop', async () => {
    rig = await bootPtz();
    await rig.exec('ptz.goto', { pan: 300, tilt: 80 });
    const res = await rig.run('ptz.move', { direction: 'up-right', speed: 100, seconds: 30 });
    expect(res).toMatchObject({ ok: true, result: { limited: [] } });
    await vi.advanceTimersByTimeAsync(3000);
    const p = rig.head.position();
    expect(p.pan).toBeGreaterThanOrEqual(353.9);
    expect(p.pan).toBeLessThanOrEqual(354.01);
    expect(p.tilt).toBeGreaterThanOrEqual(88.9);
    expect(p.tilt).toBeLessThanOrEqual(89.01);
    // Tilt (45°/s, 9° to go) stopped first, pan (90°/s, 54° to go) later, each on its own.
    const stops = rig.head.moves.filter((m) => m.kind === 'stop').map((m) => m.axis);
    expect(stops).toEqual(['tilt', 'pan']);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ moving: false });
    // Pushing further out does nothing but say so.
    expect(await rig.run('ptz.move', { direction: 'right', speed: 50 })).toMatchObject({ ok: true, result: { limited: ['pan'] } });
    await vi.advanceTimersByTimeAsync(1000);
    expect(rig.head.position().pan).toBe(p.pan);
  });

  it('a continuous move stops by itself after its safety timeout, or on ptz.stop', async () => {
    rig = await bootPtz();
    await rig.exec('ptz.goto', { pan: 200, tilt: 0 });
    const t0 = Date.now();
    await rig.run('ptz.move', { direction: 'left', speed: 10, seconds: 1 });
    await vi.advanceTimersByTimeAsync(5000);
    // speed 10 % → byte 6 → 6/63 × 90°/s for 1 s
    expect(rig.head.position().pan).toBeCloseTo(200 - (6 / 63) * 90, 1);
    const stop = rig.head.moves.filter((m) => m.kind === 'stop' && m.t >= t0);
    expect(stop[0]!.t - t0).toBeLessThanOrEqual(1001);
    await rig.run('ptz.move', { direction: 'down', speed: 100 });
    await vi.advanceTimersByTimeAsync(100);
    const stopped = await rig.exec('ptz.stop');
    expect(stopped.ok).toBe(true);
    const at = rig.head.position();
    await vi.advanceTimersByTimeAsync(2000);
    expect(rig.head.position()).toEqual(at);
    expect(stopped).toMatchObject({ result: { tilt: at.tilt } });
  });

  it('the motion model gives the exact position at any instant of a move', async () => {
    rig = await bootPtz();
    const motions: PtzMotionEvent[] = [];
    rig.b.sup.bus.on({ name: 'test' }, 'ptz.motion', (m) => void motions.push(m));
    const p = rig.run('ptz.goto', { pan: 250, tilt: 60 });
    for (let i = 0; i < 25; i++) {
      await vi.advanceTimersByTimeAsync(123);
      const last = motions.filter((m) => m.motor === 'ptz').at(-1)!;
      const t = Date.now();
      const twin = rig.head.position();
      expect(positionAt(last.pan, t)).toBeCloseTo(twin.pan, 2);
      expect(positionAt(last.tilt!, t)).toBeCloseTo(twin.tilt, 2);
    }
    await settle(p);
  });
});

describe('presets', () => {
  it('save stores the queried position in the config; goto returns there exactly; delete removes it', async () => {
    rig = await bootPtz();
    await rig.exec('ptz.goto', { pan: 45.67, tilt: 12.34 });
    expect(await rig.exec('ptz.preset.save', { name: 'gate' })).toMatchObject({ ok: true, result: { name: 'gate', pan: 45.67, tilt: 12.34 } });
    await rig.exec('ptz.goto', { pan: 300, tilt: -5 });
    await rig.exec('ptz.preset.save', { name: 'drive' });
    expect(rig.b.sup.config.get().ptz.presets).toEqual([
      { name: 'gate', pan: 45.67, tilt: 12.34 },
      { name: 'drive', pan: 300, tilt: -5 },
    ]);
    expect(rig.b.sup.state.get().ptz?.presets).toEqual(['gate', 'drive']);
    const back = await rig.exec('ptz.preset.goto', { name: 'gate' });
    expect(back).toMatchObject({ ok: true, result: { name: 'gate', arrived: true, pan: 45.67, tilt: 12.34 } });
    expect(rig.head.position()).toEqual({ pan: 45.67, tilt: 12.34 });
    expect(await rig.exec('ptz.preset.delete', { name: 'gate' })).toMatchObject({ ok: true, result: { presets: ['drive'] } });
    expect(await rig.run('ptz.preset.goto', { name: 'gate' })).toMatchObject({ ok: false, error: { code: 'not_found', path: 'name' } });
    expect(await rig.run('ptz.preset.delete', { name: 'gate' })).toMatchObject({ ok: false, error: { code: 'not_found', path: 'name' } });
    expect(await rig.run('ptz.preset.save', { name: '' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'name' } });
  });

  it('refuses to save while the lens moves', async () => {
    rig = await bootPtz();
    await rig.run('ptz.move', { direction: 'right', speed: 20 });
    await vi.advanceTimersByTimeAsync(200);
    expect(await rig.run('ptz.preset.save', { name: 'blur' })).toMatchObject({ ok: false, error: { code: 'busy' } });
    expect(rig.b.sup.config.get().ptz.presets).toEqual([]);
  });
});

describe('a controller that does not answer', () => {
  it('absent at boot: ptz commands answer unavailable, the wide lens still works, the daemon runs', async () => {
    rig = await bootPtz({ hardware: { simFailParts: ['ptz'] } });
    expect(await rig.run('ptz.goto', { pan: 10, tilt: 0 })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await rig.run('ptz.move', { direction: 'left' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ available: false, mode: 'unavailable', wideAvailable: true, error: expect.stringContaining('PTZ head') });
    expect(rig.b.sup.state.get().faults['hardware.ptz']).toMatchObject({ kind: 'camera' });
    expect(await rig.exec('wide.pan', { deg: 100 })).toMatchObject({ ok: true, result: { arrived: true, widePan: 100 } });
  });

  it('silent at run time: camera fault `ptz`, unavailable replies, recovery by re-homing once it answers', async () => {
    rig = await bootPtz();
    await rig.exec('ptz.goto', { pan: 90, tilt: 10 });
    rig.head.detach();
    const res = await rig.exec('ptz.goto', { pan: 100, tilt: 10 });
    expect(res).toMatchObject({ ok: false, error: { code: 'unavailable', message: expect.stringContaining('did not answer') } });
    const st = rig.b.sup.state.get();
    expect(st.faults.ptz).toMatchObject({ kind: 'camera', component: 'ptz' });
    expect(st.ptz).toMatchObject({ available: false, mode: 'unavailable' });
    expect(st.lifecycle).toBe('running');
    expect(await rig.run('ptz.preset.save', { name: 'x' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    // Back on the line: the next homing attempt finds it, homes and clears the fault.
    rig.head.attach(queuedWrites(rig.b.sup.hardware.sim!.serial.rs485!.device));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(rig.b.sup.state.get().faults.ptz).toBeUndefined();
    expect(rig.b.sup.state.get().ptz).toMatchObject({ available: true, homed: true, pan: 0, tilt: 0 });
    expect(rig.head.position()).toEqual({ pan: 0, tilt: 0 });
  });

  it('an idle receiver that goes silent is noticed by the heartbeat', async () => {
    rig = await bootPtz();
    rig.wide.detach();
    await vi.advanceTimersByTimeAsync(31_000);
    expect(rig.b.sup.state.get().faults['ptz.widePan']).toMatchObject({ kind: 'camera' });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ available: true, wideAvailable: false });
    expect(await rig.run('wide.pan', { deg: 100 })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
  });
});
