import { describe, expect, it, vi, type MockInstance } from 'vitest';
import type { TwinMove } from '../../drivers/devices/pelco-d-twin.js';
import type { EpisodePhase } from '../../src/domain/episode.js';
import { FOLLOW_GRACE_MS, FOLLOW_STALE_MS } from '../../src/ptz/follow.js';
import { FOLLOW_STEERING } from '../../src/ptz/steering.js';
import { episode } from '../harness/episode.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { bootPtz, type PtzRig, rigHooks } from '../unit/ptz/sim-rig.js';

// The sim supervisor boots with real config files: generous timeouts on a busy machine.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * Follow-target on the whole PTZ service and the sim twin of the head, in fake time, fed the way
 * the detection side feeds it: `detection.episode` (start, an update at most every 5 s, end) and
 * `detection.track` (the followed object, per inference, with gaps when the detector misses it).
 */
let rig: PtzRig | undefined;
rigHooks(
  () => rig,
  () => (rig = undefined),
);

/** The default calibration (config ptz.calibration) at the wide lens's home: pan = 120 + 120·x, tilt = 30 − 35·y. */
const panOf = (cx: number): number => 120 + 120 * cx;
const cxOf = (pan: number): number => (pan - 120) / 120;
/** A person's box whose aim (centre, a third down) is at horizontal centre `cx`, tilt 12.5°. */
const boxAt = (cx: number) => ({ x: cx - 0.05, y: 0.4, w: 0.1, h: 0.3 });
const TILT = 12.5;
/** One Pelco-D speed step of the sim head's pan axis (90°/s over 63 steps). */
const STEP = 90 / 63;

function ep(r: PtzRig, phase: EpisodePhase, cx: number, id = 'p1'): void {
  r.b.sup.bus.emit('detection.episode', episode('human', phase, { id, lens: 'wide', box: boxAt(cx), score: 0.8 }));
}

function track(r: PtzRig, cx: number, id = 'p1', ts = Date.now()): void {
  r.b.sup.bus.emit('detection.track', { lens: 'wide', type: 'human', episodeId: id, box: boxAt(cx), score: 0.7, ts });
}

/** Patrol with follow-target over one preset, the head parked there. */
async function patrolling(r: PtzRig, preset = { name: 'gate', pan: 60, tilt: 5 }): Promise<void> {
  await r.b.sup.config.patch({ ptz: { presets: [preset] } }, 'test');
  expect(await r.run('ptz.patrol', { on: true, follow: true })).toMatchObject({ ok: true, result: { enabled: true, followTarget: true } });
  await vi.advanceTimersByTimeAsync(4000);
  expect(r.head.position()).toEqual({ pan: preset.pan, tilt: preset.tilt });
  expect(r.b.sup.state.get().ptz?.mode).toBe('patrol');
}

function gone(info: MockInstance): number {
  return info.mock.calls.filter((c) => c.some((a) => typeof a === 'string' && a.includes('target gone'))).length;
}

const gotos = (r: PtzRig, since: number): TwinMove[] => r.head.moves.filter((m) => m.t >= since && m.kind === 'goto');

/** Mode changes as the state shows them, recorded while a test runs. */
function modes(r: PtzRig): string[] {
  const seen: string[] = [r.b.sup.state.get().ptz?.mode ?? '-'];
  // Owned by the test: the rig's dispose does not remove it, the supervisor's shutdown drops the store.
  r.b.sup.state.subscribe((s) => {
    const m = s.ptz?.mode ?? '-';
    if (seen.at(-1) !== m) seen.push(m);
  });
  return seen;
}

describe('follow target holds the person while their episode is open', () => {
  it('updates 5 s apart and no sighting between them: followed for 30 s, no "target gone", no return to the patrol preset', async () => {
    rig = await bootPtz();
    await patrolling(rig);
    const info = vi.spyOn(rig.svc.log, 'info');
    const t0 = Date.now();
    const seen = modes(rig);
    let cx = 0.3;
    ep(rig, 'start', cx);
    for (let s = 1; s <= 30; s++) {
      await vi.advanceTimersByTimeAsync(1000);
      // The tracker's spacing of updates (updateEveryMs): nothing else reaches the follower.
      if (s % 5 === 0) ep(rig, 'update', (cx += 0.01));
      expect(rig.b.sup.state.get().ptz, `at ${s} s`).toMatchObject({ mode: 'follow', target: { episodeId: 'p1' } });
    }
    expect(gone(info)).toBe(0);
    expect(seen).toEqual(['patrol', 'follow']);
    // The head got there by speed commands only: the patrol's goto never came back.
    expect(gotos(rig, t0)).toEqual([]);
    // On the person, within the dead band's start threshold (an aim moved by less does not start the head).
    await vi.advanceTimersByTimeAsync(3000);
    expect(Math.abs(rig.head.position().pan - panOf(cx))).toBeLessThanOrEqual(FOLLOW_STEERING.startBand);
    expect(rig.head.position().tilt).toBeCloseTo(TILT, 0);
  });

  it('steers by detection.track between updates, through gaps in sighting, and keeps to its own object of the episode', async () => {
    rig = await bootPtz();
    await patrolling(rig);
    const info = vi.spyOn(rig.svc.log, 'info');
    const t0 = Date.now();
    const seen = modes(rig);
    // Walks right at 0.02 image widths/s (2.4°/s); a second person of the same episode stands at 0.8
    // and scores higher, so the episode's own box (its updates) is theirs.
    const walker = (ms: number): number => 0.2 + (0.02 * ms) / 1000;
    ep(rig, 'start', walker(0));
    const gaps = [
      [6000, 9500],
      [17_000, 21_000],
    ];
    for (let ms = 500; ms <= 30_000; ms += 500) {
      await vi.advanceTimersByTimeAsync(500);
      if (ms % 5000 === 0) ep(rig, 'update', 0.8);
      if (gaps.some(([a, b]) => ms >= a! && ms < b!)) continue;
      track(rig, walker(ms));
      track(rig, 0.8);
      if (ms === 4500) {
        // Before the first update: the head follows the tracks, not the 5 s updates.
        expect(rig.head.position().pan).toBeGreaterThan(panOf(walker(0)) + 5);
      }
    }
    expect(gone(info)).toBe(0);
    expect(seen).toEqual(['patrol', 'follow']);
    expect(gotos(rig, t0)).toEqual([]);
    // Still on the walker (the other person is 40° away), within the lag of the proportional steering.
    expect(Math.abs(rig.head.position().pan - panOf(walker(30_000)))).toBeLessThan(4);
  });
});

describe('smooth, bounded steering', () => {
  it('speed never exceeds the cap and changes at most maxAccel per tick, even when the aim jumps back next to the head', async () => {
    rig = await bootPtz();
    // The head waits where the person is.
    await patrolling(rig, { name: 'door', pan: 138, tilt: TILT });
    ep(rig, 'start', cxOf(138));
    await vi.advanceTimersByTimeAsync(2000);
    const t0 = Date.now();
    // Already on the person: nothing moved (at most the stop that opens steering).
    expect(rig.head.moves.filter((m) => m.t >= t0 - 2000 && m.kind !== 'stop')).toEqual([]);
    // They run to the far side: the head speeds up towards 222°…
    for (let i = 0; i < 100 && rig.head.position().pan < 170; i++) {
      track(rig, cxOf(222));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(rig.head.position().pan).toBeGreaterThanOrEqual(170);
    // …and are found again just ahead of the head, which now runs at full speed: it must brake, not
    // stop dead. Placed 1° ahead of where the head will be at the next steering tick: just after a
    // tick (the twin heard a command), 150 ms on, the next tick is 50 ms (1.5° at 30°/s) away.
    const heard = rig.head.moves.length;
    for (let i = 0; i < 50 && rig.head.moves.length === heard; i++) await vi.advanceTimersByTimeAsync(10);
    await vi.advanceTimersByTimeAsync(150);
    expect(rig.head.moves.at(-1)?.speedDegS).toBeCloseTo(FOLLOW_STEERING.maxSpeed, 0);
    const near = rig.head.position().pan + 1.5 + 1;
    for (let i = 0; i < 100; i++) {
      track(rig, cxOf(near));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(Math.abs(rig.head.position().pan - near)).toBeLessThan(1);
    const speeds = rig.head.moves.filter((m) => m.t >= t0 && m.axis === 'pan');
    expect(speeds.length).toBeGreaterThan(3);
    expect(speeds.every((m) => m.kind !== 'goto')).toBe(true);
    expect(Math.max(...speeds.map((m) => Math.abs(m.speedDegS)))).toBeLessThanOrEqual(FOLLOW_STEERING.maxSpeed + STEP);
    const perTick = (FOLLOW_STEERING.maxAccel * 200) / 1000;
    let prev = 0;
    for (const m of speeds) {
      // An unchanged speed is not re-sent, so the head ran at the previous command's speed up to
      // the tick before this one: each command may differ from the last by one tick's worth.
      expect(Math.abs(m.speedDegS - prev), `at ${m.t - t0} ms`).toBeLessThanOrEqual(perTick + STEP + 1e-9);
      prev = m.speedDegS;
    }
  });

  it('a person standing still, their box jittering by a degree, gets no motion at all (dead band with hysteresis)', async () => {
    rig = await bootPtz();
    await patrolling(rig, { name: 'door', pan: 150, tilt: TILT });
    ep(rig, 'start', cxOf(150.4));
    await vi.advanceTimersByTimeAsync(3000);
    const t0 = Date.now();
    for (let i = 0; i < 40; i++) {
      const jitter = (i % 2 === 0 ? 1 : -1) * 1.1;
      ep(rig, 'update', cxOf(150 + jitter));
      track(rig, cxOf(150 - jitter));
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'p1' } });
    expect(rig.head.moves.filter((m) => m.t >= t0)).toEqual([]);
    expect(rig.head.position()).toEqual({ pan: 150, tilt: TILT });
  });
});

describe('losing the target', () => {
  it('episode end: the head waits a grace period at the last position, then patrol resumes once', async () => {
    rig = await bootPtz();
    await patrolling(rig);
    const info = vi.spyOn(rig.svc.log, 'info');
    const seen = modes(rig);
    ep(rig, 'start', 0.3);
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(500);
      track(rig, 0.3);
    }
    expect(rig.head.position().pan).toBeCloseTo(panOf(0.3), 0);
    ep(rig, 'end', 0.3);
    const tEnd = Date.now();
    await vi.advanceTimersByTimeAsync(FOLLOW_GRACE_MS - 500);
    // Waiting where the person was last seen.
    expect(rig.b.sup.state.get().ptz?.mode).toBe('follow');
    expect(gotos(rig, tEnd)).toEqual([]);
    expect(gone(info)).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(gone(info)).toBe(1);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', target: null });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(rig.head.position()).toEqual({ pan: 60, tilt: 5 });
    expect(seen).toEqual(['patrol', 'follow', 'patrol']);
    expect(gotos(rig, tEnd)[0]?.target).toBe(60);
  });

  it('the person is re-found within the grace period (same episode or a new one): the head never goes back to the patrol preset', async () => {
    rig = await bootPtz();
    await patrolling(rig);
    const info = vi.spyOn(rig.svc.log, 'info');
    const seen = modes(rig);
    const t0 = Date.now();
    ep(rig, 'start', 0.3);
    await vi.advanceTimersByTimeAsync(5000);
    // The tracker lost them behind a post and ends the episode; a second later they are a new episode.
    ep(rig, 'end', 0.3);
    await vi.advanceTimersByTimeAsync(1000);
    ep(rig, 'start', 0.32, 'p2');
    await vi.advanceTimersByTimeAsync(200);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'p2' } });
    // The detection side falls silent with p2 open: held for the stale timeout, then the grace.
    await vi.advanceTimersByTimeAsync(FOLLOW_STALE_MS - 1000);
    expect(rig.b.sup.state.get().ptz?.target?.episodeId).toBe('p2');
    await vi.advanceTimersByTimeAsync(2000);
    // Late sighting of the same episode within the grace: followed on.
    track(rig, 0.33, 'p2');
    await vi.advanceTimersByTimeAsync(FOLLOW_GRACE_MS + 1000);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'p2' } });
    expect(gone(info)).toBe(0);
    expect(seen).toEqual(['patrol', 'follow']);
    expect(gotos(rig, t0)).toEqual([]);
    // An ended episode's late track does not revive it.
    ep(rig, 'end', 0.33, 'p2');
    track(rig, 0.33, 'p2');
    await vi.advanceTimersByTimeAsync(FOLLOW_GRACE_MS + 200);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', target: null });
    expect(gone(info)).toBe(1);
  });
});

describe('follow target is part of auto patrol', () => {
  it('ptz.patrol {on:false} stops following at once: target cleared, head stopped, later sightings ignored', async () => {
    rig = await bootPtz();
    await patrolling(rig, { name: 'door', pan: 138, tilt: TILT });
    ep(rig, 'start', cxOf(138));
    // The person runs off: the head is turning at speed when patrol is switched off.
    for (let i = 0; i < 15; i++) {
      track(rig, cxOf(250));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(rig.head.moves.at(-1)).toMatchObject({ kind: 'speed' });
    expect(Math.abs(rig.head.moves.at(-1)!.speedDegS)).toBeGreaterThan(10);
    expect(await rig.run('ptz.patrol', { on: false })).toMatchObject({ ok: true, result: { enabled: false, followTarget: false, mode: 'idle' } });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'idle', target: null, head: null, patrol: { enabled: false, followTarget: false } });
    await vi.advanceTimersByTimeAsync(100);
    const stoppedAt = Date.now();
    expect(rig.head.moves.at(-1)).toMatchObject({ speedDegS: 0 });
    const where = rig.head.position();
    for (let i = 0; i < 20; i++) {
      track(rig, cxOf(250));
      ep(rig, 'update', cxOf(250));
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(rig.head.moves.filter((m) => m.t > stoppedAt)).toEqual([]);
    expect(rig.head.position()).toEqual(where);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'idle', target: null });
    // Following without the patrol is refused, saying why; the choice is kept for the next patrol.
    expect(await rig.run('ptz.patrol', { on: false, follow: true })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'follow' } });
    expect(rig.b.sup.config.get().ptz.patrol.followTarget).toBe(true);
    expect(await rig.run('ptz.patrol', { on: true })).toMatchObject({ ok: true, result: { enabled: true, followTarget: true } });
    ep(rig, 'start', cxOf(200), 'p2');
    await vi.advanceTimersByTimeAsync(200);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', target: { episodeId: 'p2' } });
  });
});
