import { describe, expect, it, vi } from 'vitest';
import type { TwinMove } from '../../drivers/devices/pelco-d-twin.js';
import type { HeadPort } from '../../src/ptz/types.js';
import { episode } from '../harness/episode.js';
import { bootPtz, settle, type PtzRig, rigHooks } from '../unit/ptz/sim-rig.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// The sim supervisor boots with real config files: generous timeouts on a busy machine.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The 360° sweep against patrol, follow and manual control on the whole PTZ service, through the
 * port capture uses (ctx.ports.head), with the sim twin of the head recording every command it
 * receives: one owner at a time, never interleaved.
 */
let rig: PtzRig | undefined;
rigHooks(
  () => rig,
  () => (rig = undefined),
);

const PRESETS = [
  { name: 'a', pan: 90, tilt: 0 },
  { name: 'b', pan: 200, tilt: 10 },
];
/** One picture takes this long (the sim's ffmpeg crop), in fake time. */
const SHOT_MS = 700;

function port(r: PtzRig): HeadPort {
  const p = r.b.sup.ctx.ports.head;
  if (!p) throw new Error('the PTZ service offers no head port');
  return p;
}

/** Starts a sweep whose shots record the head's owner and mode at each picture. */
function sweep(r: PtzRig, shots = 3) {
  const seen: { pan: number; owner: string | undefined; mode: string | undefined }[] = [];
  const started = Date.now();
  const first = r.head.moves.length;
  const p = port(r).sweep(shots, async (_i, pan) => {
    const s = r.b.sup.state.get().ptz;
    seen.push({ pan, owner: s?.head?.owner, mode: s?.mode });
    await new Promise((res) => setTimeout(res, SHOT_MS));
  });
  // When the sweep answered (and gave the head back), in fake time, and what the twin had heard by then.
  const out = { p, seen, started, ended: Infinity, during: [] as TwinMove[] };
  const end = (): void => {
    out.ended = Date.now();
    out.during = r.head.moves.slice(first);
  };
  p.then(end, end);
  return out;
}

const panGotos = (moves: TwinMove[]): number[] => moves.filter((m) => m.kind === 'goto' && m.axis === 'pan').map((m) => m.target!);

function person(r: PtzRig, phase: 'start' | 'update' | 'end', x: number): void {
  r.b.sup.bus.emit('detection.episode', episode('human', phase, { id: 'p1', lens: 'wide', box: { x, y: 0.4, w: 0.1, h: 0.3 }, score: 0.8 }));
}

describe('the 360° sweep and the other movers share the head through the arbiter', () => {
  it('during patrol: patrol is preempted, only the sweep moves the head, then patrol resumes at the preset it was on', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: PRESETS, patrol: { enabled: true, dwellSeconds: 20 } } }, 'test');
    await vi.advanceTimersByTimeAsync(5000);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', patrol: { preset: 'a' }, head: { owner: 'patrol', priority: 10 } });
    expect(rig.head.position()).toEqual({ pan: 90, tilt: 0 });

    const s = sweep(rig);
    const r = await settle(s.p, 30_000);
    const { ended } = s;
    expect(r.positions).toEqual([0, 120, 240]);
    expect(s.seen.map((x) => [x.pan, x.owner, x.mode])).toEqual([
      [0, 'sweep', 'sweep'],
      [120, 'sweep', 'sweep'],
      [240, 'sweep', 'sweep'],
    ]);
    // Until the sweep gave the head back the head heard the sweep and nobody else: its three
    // positions and the way back to where patrol had left it.
    const { during } = s;
    expect(panGotos(during)).toEqual([0, 120, 240, 90]);
    expect(during.every((m) => m.kind === 'goto' && m.axis === 'pan')).toBe(true);
    // Patrol takes the head back and resumes at the preset it was on (it had not finished its dwell at a).
    await vi.advanceTimersByTimeAsync(100);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', head: { owner: 'patrol' } });
    await vi.advanceTimersByTimeAsync(25_000);
    expect(panGotos(rig.head.moves.filter((m) => m.t >= ended)).slice(0, 2)).toEqual([90, 200]);
  });

  it('during follow: steering stops while the sweep has the head and resumes after it', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: PRESETS, patrol: { dwellSeconds: 20 } } }, 'test');
    await rig.run('ptz.patrol', { on: true, follow: true });
    person(rig, 'start', 0.3);
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(500);
      person(rig, 'update', 0.3);
    }
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', head: { owner: 'follow' } });
    const s = sweep(rig);
    let done = false;
    void s.p.finally(() => (done = true));
    // The person stays in view the whole time: follow still wants the head.
    for (let i = 0; i < 60 && !done; i++) {
      await vi.advanceTimersByTimeAsync(250);
      person(rig, 'update', 0.3);
    }
    const r = await s.p;
    const { ended } = s;
    expect(r.positions).toEqual([0, 120, 240]);
    expect(s.seen.every((x) => x.owner === 'sweep')).toBe(true);
    // No speed command (follow's steering) reached the head while the sweep had it, only gotos.
    const { during } = s;
    expect(during.filter((m) => m.kind === 'speed')).toEqual([]);
    expect(panGotos(during).slice(0, 3)).toEqual([0, 120, 240]);
    // Follow takes the head back at once and steers again.
    person(rig, 'update', 0.3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'follow', head: { owner: 'follow' }, target: { episodeId: 'p1' } });
    expect(rig.head.moves.some((m) => m.t > ended && m.kind === 'speed')).toBe(true);
  });

  it('a manual command during the sweep wins: the sweep stops with busy naming it and does not turn the head back', async () => {
    rig = await bootPtz();
    const s = sweep(rig, 4);
    void s.p.catch(() => undefined);
    // Wait for the first picture, then a user points the lens.
    for (let i = 0; i < 200 && s.seen.length === 0; i++) await vi.advanceTimersByTimeAsync(50);
    const goto = await rig.exec('ptz.goto', { pan: 300, tilt: 20 });
    expect(goto).toMatchObject({ ok: true, result: { arrived: true, pan: 300, tilt: 20 } });
    await expect(settle(s.p)).rejects.toMatchObject({ code: 'busy', message: 'the 360° view was interrupted: manual control (ptz.goto) took the PTZ head' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.seen.length).toBe(1);
    expect(rig.head.position()).toEqual({ pan: 300, tilt: 20 });
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'manual', head: { owner: 'hold' } });
  });

  it('a sweep is refused while a manual command moves the head, allowed in the manual hold after it, and the hold (patrol paused) comes back after', async () => {
    rig = await bootPtz();
    await rig.b.sup.config.patch({ ptz: { presets: PRESETS, patrol: { enabled: true, dwellSeconds: 2 } } }, 'test');
    await vi.advanceTimersByTimeAsync(3000);
    // A goto on its way owns the head at `manual`: the sweep is refused, naming it.
    const going = rig.run('ptz.goto', { pan: 300, tilt: 0 });
    await vi.advanceTimersByTimeAsync(100);
    expect(rig.b.sup.state.get().ptz?.head).toMatchObject({ owner: 'manual', why: 'ptz.goto' });
    await expect(port(rig).sweep(3, async () => undefined)).rejects.toMatchObject({ code: 'busy', message: expect.stringContaining('manual control (ptz.goto)') });
    await settle(going);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'manual', head: { owner: 'hold' } });
    // In the hold, the user's own 360° view is allowed.
    const s = sweep(rig);
    expect((await settle(s.p, 30_000)).positions).toEqual([0, 120, 240]);
    const { ended } = s;
    await vi.advanceTimersByTimeAsync(100);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'manual', head: { owner: 'hold' } });
    expect(rig.head.position().pan).toBe(300);
    // Patrol stays paused until the minute after the goto is over, then resumes.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(rig.head.moves.filter((m) => m.t > ended + 50)).toEqual([]);
    await vi.advanceTimersByTimeAsync(40_000);
    expect(rig.b.sup.state.get().ptz).toMatchObject({ mode: 'patrol', head: { owner: 'patrol' } });
  });

  it('refused with busy while the head homes; the port is gone once the service stops', async () => {
    rig = await bootPtz({ home: false });
    expect(rig.b.sup.state.get().ptz?.head).toMatchObject({ owner: 'homing' });
    await expect(port(rig).sweep(3, async () => undefined)).rejects.toMatchObject({ code: 'busy', message: expect.stringContaining('homing') });
    await rig.svc.stop();
    expect(rig.b.sup.ctx.ports.head).toBeUndefined();
  });
});
