import { describe, expect, it, vi } from 'vitest';
import type { TwinMove } from '../../drivers/devices/pelco-d-twin.js';
import type { EpisodePhase } from '../../src/domain/episode.js';
import type { DetectionType, LensName } from '../../src/domain/types.js';
import { lookAngles } from '../../src/ptz/calibration.js';
import { FOLLOW_GRACE_MS, FOLLOW_STALE_MS } from '../../src/ptz/follow.js';
import { episode } from '../harness/episode.js';
import { bootPtz, type PtzRig, rigHooks } from '../unit/ptz/sim-rig.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let rig: PtzRig | undefined;
rigHooks(
  () => rig,
  () => (rig = undefined),
);

const HEAD = { pan: 90, tilt: 45 };

/** When a goto on the twin arrives (from its logged start, distance and the axis speed). */
function arrival(moves: TwinMove[], t: number): number {
  const gs = moves.filter((m) => m.kind === 'goto' && m.t === t);
  return Math.max(...gs.map((m) => m.t + (Math.abs(m.target! - m.from) / HEAD[m.axis]) * 1000));
}

function person(r: PtzRig, type: DetectionType, phase: EpisodePhase, box: [number, number, number, number], episodeId = 'p1', lens: LensName = 'wide'): void {
  const [x, y, w, h] = box;
  r.b.sup.bus.emit('detection.episode', episode(type, phase, { id: episodeId, lens, box: { x, y, w, h }, score: 0.8 }));
}

describe('auto patrol', () => {
  it('visits the presets in order and dwells at each for its dwell time after arriving', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch(
      {
        ptz: {
          presets: [
            { name: 'a', pan: 90, tilt: 0 },
            { name: 'b', pan: 180, tilt: 10, dwellSeconds: 4 },
          ],
          patrol: { dwellSeconds: 6 },
        },
      },
      'test',
    );
    const t0 = Date.now();
    expect(await rig.run('ptz.patrol', { on: true })).toMatchObject({ ok: true, result: { enabled: true, mode: 'patrol' } });
    await vi.advanceTimersByTimeAsync(40_000);
    const moves = rig.head.moves.filter((m) => m.t >= t0);
    const starts = [...new Set(moves.filter((m) => m.kind === 'goto' && m.axis === 'pan').map((m) => m.t))];
    const targets = starts.map((t) => moves.find((m) => m.t === t && m.axis === 'pan')!.target);
    expect(targets.slice(0, 5)).toEqual([90, 180, 90, 180, 90]);
    for (let i = 0; i + 1 < starts.length; i++) {
      const dwell = starts[i + 1]! - arrival(moves, starts[i]!);
      const want = targets[i] === 90 ? 6000 : 4000;
      // The dwell starts once arrival is confirmed by a query: within a poll of the true arrival.
      expect(dwell, `stop ${i}`).toBeGreaterThanOrEqual(want);
      expect(dwell, `stop ${i}`).toBeLessThanOrEqual(want + 300);
    }
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', patrol: { enabled: true, preset: expect.stringMatching(/^[ab]$/) } });
  });

  it('a manual command pauses the patrol for a minute, then it resumes', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: [{ name: 'a', pan: 90, tilt: 0 }, { name: 'b', pan: 120, tilt: 0 }], patrol: { enabled: true, dwellSeconds: 2 } } }, 'test');
    await vi.advanceTimersByTimeAsync(5000);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('patrol');
    const res = await rig.exec('ptz.goto', { pan: 300, tilt: 30 });
    const t1 = Date.now();
    expect(res.ok).toBe(true);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('manual');
    await vi.advanceTimersByTimeAsync(55_000);
    expect(rig.head.moves.filter((m) => m.t > t1)).toEqual([]);
    expect(rig.head.position()).toEqual({ pan: 300, tilt: 30 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('patrol');
    expect(rig.head.moves.filter((m) => m.t > t1 && m.kind === 'goto').length).toBeGreaterThan(0);
  });

  it('sleep mode pauses the patrol; waking resumes it', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: [{ name: 'a', pan: 90, tilt: 0 }, { name: 'b', pan: 120, tilt: 0 }], patrol: { enabled: true, dwellSeconds: 2 } } }, 'test');
    await vi.advanceTimersByTimeAsync(5000);
    rig.b.sup.state.set('sleeping', true);
    await vi.advanceTimersByTimeAsync(2000);
    const t1 = Date.now();
    expect(rig.b.sup.state.get().ptz?.mode).toBe('idle');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(rig.head.moves.filter((m) => m.t > t1)).toEqual([]);
    rig.b.sup.state.set('sleeping', false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('patrol');
    expect(rig.head.moves.filter((m) => m.t > t1 && m.kind === 'goto').length).toBeGreaterThan(0);
  });

  it('patrol needs a preset; bad input is refused with the path', async () => {
    rig = await bootPtz();
    expect(await rig.run('ptz.patrol', { on: true })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'on' } });
    expect(await rig.run('ptz.patrol', { on: 'yes' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'on' } });
    expect(rig.b.sup.config.get().ptz.patrol.enabled).toBe(false);
  });
});

describe('follow target', () => {
  it('steers smoothly to a person on the wide lens, keeps up as they move, and returns home when they leave (patrol on, its presets deleted)', async () => {
    rig = await bootPtz();
    // Patrol switched on with follow, then its last preset deleted: nothing to patrol, follow still on.
    await rig.b.sup.config.patch({ ptz: { patrol: { enabled: true, followTarget: true } } }, 'test');
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'idle', patrol: { enabled: true, followTarget: true } });
    const t0 = Date.now();
    const cal = rig.b.sup.config.get().ptz.calibration;
    const aim = (box: [number, number, number, number]) => lookAngles(cal, box[0] + box[2] / 2, box[1] + box[3] / 3, 170, 170);
    let box: [number, number, number, number] = [0.1, 0.4, 0.1, 0.3];
    person(rig, 'human', 'start', box);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'p1' } });
    for (let i = 0; i < 24; i++) {
      await vi.advanceTimersByTimeAsync(500);
      person(rig, 'human', 'update', box);
    }
    let want = aim(box);
    expect(rig.head.position().pan).toBeCloseTo(want.pan, 0);
    expect(rig.head.position().tilt).toBeCloseTo(want.tilt, 0);
    // Smooth: speed commands only, capped at 30°/s and changing at most 60°/s² per 200 ms tick
    // (+ one speed step of quantisation).
    const step = 90 / 63;
    const panSpeeds = rig.head.moves.filter((m) => m.t >= t0 && m.axis === 'pan');
    expect(panSpeeds.every((m) => m.kind !== 'goto')).toBe(true);
    expect(Math.max(...panSpeeds.map((m) => Math.abs(m.speedDegS)))).toBeLessThanOrEqual(30 + step);
    let prev = 0;
    for (const m of panSpeeds) {
      expect(Math.abs(m.speedDegS - prev)).toBeLessThanOrEqual(12 + step + 1e-9);
      prev = m.speedDegS;
    }
    // The person walks to the right half of the image.
    box = [0.6, 0.5, 0.1, 0.3];
    for (let i = 0; i < 16; i++) {
      person(rig, 'human', 'update', box);
      await vi.advanceTimersByTimeAsync(500);
    }
    want = aim(box);
    expect(rig.head.position().pan).toBeCloseTo(want.pan, 0);
    expect(rig.head.position().tilt).toBeCloseTo(want.tilt, 0);
    // Gone: after the grace period at the last position, back home.
    person(rig, 'human', 'end', box);
    await vi.advanceTimersByTimeAsync(FOLLOW_GRACE_MS - 500);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'p1' } });
    expect(rig.head.position().pan).toBeCloseTo(want.pan, 0);
    await vi.advanceTimersByTimeAsync(5500);
    expect(rig.head.position()).toEqual({ pan: 0, tilt: 0 });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'idle', target: null });
  });

  it('an open episode nobody reports on any more is held for the stale timeout, then the grace period, then the head returns to the patrol', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: [{ name: 'gate', pan: 60, tilt: 5 }], patrol: { enabled: true, followTarget: true } } }, 'test');
    await vi.advanceTimersByTimeAsync(3000);
    expect(rig.head.position()).toEqual({ pan: 60, tilt: 5 });
    person(rig, 'human', 'start', [0.7, 0.2, 0.1, 0.4]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('follow');
    expect(rig.head.position().pan).toBeGreaterThan(70);
    // No end and no sighting: the episode is open, so the person is held (the detector's next update may be 5 s away).
    await vi.advanceTimersByTimeAsync(FOLLOW_STALE_MS - 4000);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('follow');
    await vi.advanceTimersByTimeAsync(2000 + FOLLOW_GRACE_MS);
    expect(rig.b.sup.state.get().ptz?.mode).toBe('patrol');
    await vi.advanceTimersByTimeAsync(5000);
    expect(rig.head.position()).toEqual({ pan: 60, tilt: 5 });
  });

  it('follows one person at a time and ignores the PTZ lens, other types and follow switched off', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: [{ name: 'gate', pan: 60, tilt: 5 }] } }, 'test');
    await rig.run('ptz.patrol', { on: true, follow: false });
    person(rig, 'human', 'start', [0.5, 0.5, 0.1, 0.2]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', target: null });
    await rig.run('ptz.patrol', { on: true, follow: true });
    person(rig, 'vehicle', 'start', [0.5, 0.5, 0.1, 0.2]);
    person(rig, 'human', 'start', [0.5, 0.5, 0.1, 0.2], 'p9', 'ptz');
    await vi.advanceTimersByTimeAsync(1000);
    expect(rig.b.sup.state.get().ptz?.target).toBeNull();
    person(rig, 'human', 'start', [0.2, 0.5, 0.1, 0.2], 'first');
    person(rig, 'human', 'start', [0.8, 0.5, 0.1, 0.2], 'second');
    await vi.advanceTimersByTimeAsync(200);
    expect(rig.b.sup.state.get().ptz?.target?.episodeId).toBe('first');
    // Updates of the second person change nothing while the first is followed…
    person(rig, 'human', 'update', [0.8, 0.5, 0.1, 0.2], 'second');
    expect(rig.b.sup.state.get().ptz?.target?.episodeId).toBe('first');
    // …once the first has left, the next sighting of the second takes over (within the grace period: no trip to the patrol).
    person(rig, 'human', 'end', [0.2, 0.5, 0.1, 0.2], 'first');
    person(rig, 'human', 'update', [0.8, 0.5, 0.1, 0.2], 'second');
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'second' } });
  });
});

describe('tap to look and its calibration', () => {
  it('turns the PTZ lens to a point of the wide image, compensating the wide lens pan', async () => {
    rig = await bootPtz();
    expect(await rig.exec('ptz.look', { x: 0.5, y: 0.5 })).toMatchObject({ ok: true, result: { arrived: true, pan: 180, tilt: 12.5, clamped: false } });
    await rig.exec('wide.pan', { deg: 190 });
    expect(await rig.exec('ptz.look', { x: 0.5, y: 0.5 })).toMatchObject({ ok: true, result: { pan: 200, tilt: 12.5 } });
    await rig.exec('wide.pan', { deg: 339 });
    const far = await rig.exec('ptz.look', { x: 1, y: 0 });
    expect(far).toMatchObject({ ok: true, result: { pan: 354, tilt: 30, clamped: true, aim: { pan: 409 } } });
    expect(await rig.run('ptz.look', { x: 1.5, y: 0 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'x' } });
  });

  it('calibrate: pairs of wide-image points and PTZ positions fit the model by least squares', async () => {
    rig = await bootPtz();
    const truth = { panAtLeft: 95, panAtRight: 215, tiltAtTop: 42, tiltAtBottom: -8, widePanDeg: 170 };
    const pair = async (x: number, y: number, widePan: number) => {
      await rig!.exec('wide.pan', { deg: widePan });
      const a = lookAngles(truth, x, y, widePan, 170);
      await rig!.exec('ptz.goto', a);
      return rig!.exec('ptz.calibrate', { x, y });
    };
    const first = await pair(0.2, 0.3, 170);
    expect(first).toMatchObject({ ok: true, result: { pairs: 1, fit: { pan: { fitted: false }, tilt: { fitted: false } } } });
    expect(rig.b.sup.config.get().ptz.calibration).toMatchObject({ panAtLeft: 120, panAtRight: 240 });
    await pair(0.8, 0.7, 170);
    const third = await pair(0.5, 0.9, 185);
    expect(third).toMatchObject({ ok: true, result: { pairs: 3, fit: { pan: { fitted: true }, tilt: { fitted: true } } } });
    const cal = rig.b.sup.config.get().ptz.calibration;
    for (const k of ['panAtLeft', 'panAtRight', 'tiltAtTop', 'tiltAtBottom', 'widePanDeg'] as const) expect(cal[k], k).toBeCloseTo(truth[k], 1);
    expect(rig.b.sup.state.get().ptz?.calibrationPairs).toBe(3);
    // A tap now lands where the truth says, at another wide pan.
    await rig.exec('wide.pan', { deg: 160 });
    const look = await rig.exec('ptz.look', { x: 0.35, y: 0.6 });
    const want = lookAngles(truth, 0.35, 0.6, 160, 170);
    expect((look as { result: { pan: number } }).result.pan).toBeCloseTo(want.pan, 1);
    expect((look as { result: { tilt: number } }).result.tilt).toBeCloseTo(want.tilt, 1);
    expect(await rig.run('ptz.calibrate.clear')).toMatchObject({ ok: true, result: { pairs: 0 } });
  });
});
