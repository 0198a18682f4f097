import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bh1750Model } from '../../drivers/i2c/models/bh1750.js';
import type { Timeline, TimelineEntry } from '../../drivers/timeline.js';
import { alarmService } from '../../src/alarm/service.js';
import { authorizeSettings } from '../../src/config/access.js';
import { daynightService, SAMPLE_MS } from '../../src/daynight/service.js';
import type { DayNightState } from '../../src/daynight/types.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { crossing, DAWN, DUSK, END, HEADLIGHTS, MIN, noisy, SPOTLIGHT } from '../unit/daynight/evening.js';

/**
 * The day/night service in the whole supervisor on the sim board, under fake timers, with a
 * scripted light curve on the sim BH1750. The sim sensor also sees the camera's own lights, as a
 * real one on the same housing would: the spotlight (by its rendered, ramped level from the sim
 * scene) and a little of the IR illuminator in night mode.
 */
const FAKE = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;
/** What the sensor reads of the full spotlight at night (a wall 2 m away throws some of it back). */
const SPOT_LUX = 400;
/** The 850 nm illuminator's leak into the sensor's visible band in night mode. */
const IR_LEAK_LUX = 3;

let booted: BootedSim | undefined;
beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKE] });
});
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  vi.useRealTimers();
});

type Seen = { what: 'lights'; t: number; source: string; on: boolean } | { what: 'pulse'; t: number; name: string } | { what: 'event'; t: number; type: string; reason: unknown };

interface Rig {
  b: BootedSim;
  t0: number;
  tl: Timeline;
  sensor: Bh1750Model;
  seen: Seen[];
  state(): DayNightState;
}

/** Boots alarm + daynight with the scene curve set before the first reading is taken. */
async function rig(curve: (t: number) => number, opts: Parameters<typeof bootSim>[0] = {}): Promise<Rig> {
  const b = (booted = await bootSim({ services: [alarmService, daynightService], ...opts }));
  const sim = b.sup.hardware.sim!;
  const tl = b.sup.hardware.timeline!;
  const t0 = Date.now();
  const sensor = sim.lightSensor()!;
  // The first reading waits for the BH1750's first measurement (180 ms on the fake clock): the
  // curve is in place before it.
  sensor.setLuxCurve((t) => {
    const l = sim.scene.levels(t);
    return curve(t - t0) + SPOT_LUX * l.spotlight + (l.night ? IR_LEAK_LUX : 0);
  });
  const seen: Seen[] = [];
  b.sup.bus.on({ name: 'test' }, 'lights.changing', (e) => {
    seen.push({ what: 'lights', t: Date.now(), source: e.source, on: e.on });
  });
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e: CameraEvent) => {
    if (e.type.startsWith('daynight.')) seen.push({ what: 'event', t: e.ts, type: e.type, reason: e.data?.reason });
  });
  tl.onRecord((e: TimelineEntry) => {
    if (e.kind === 'gpio' && e.value === 1 && (e.name === 'irCutDay' || e.name === 'irCutNight')) seen.push({ what: 'pulse', t: e.t, name: e.name });
  });
  return { b, t0, tl, sensor, seen, state: () => b.sup.state.get().daynight! };
}

const run = (b: BootedSim, name: string, args: unknown = {}) => b.sup.commands.execute(name, args, { source: 'local' });
const until = async (r: Rig, t: number) => vi.advanceTimersByTimeAsync(r.t0 + t - Date.now());
const events = (r: Rig) => r.seen.filter((s) => s.what === 'event');

describe('day/night on the sim board over one evening', () => {
  it('dusk → one switch to night; headlights and the own spotlight → none; dawn → one switch to day; lights.changing before each pulse', async () => {
    const r = await rig(noisy(42));
    await until(r, 1000);
    expect(r.state()).toMatchObject({ mode: 'auto', current: 'day', reason: 'boot', blinded: false, paused: false });

    // Dusk, the night and the headlights.
    await until(r, HEADLIGHTS.at + 30_000);
    expect(r.state()).toMatchObject({ current: 'night', reason: 'dark' });
    const nightAt = events(r).find((e) => e.type === 'daynight.night')!.t - r.t0;
    const { dusk } = crossing(8);
    expect(nightAt).toBeGreaterThan(dusk + 60_000 - 3 * MIN);
    expect(nightAt).toBeLessThan(Math.min(DUSK.to, dusk + 60_000 + 3 * MIN));

    // The spotlight at night, longer than the dwell, and what the sensor really sees of it.
    await until(r, SPOTLIGHT.at);
    expect(await run(r.b, 'spotlight.set', { on: true })).toMatchObject({ ok: true });
    await until(r, SPOTLIGHT.at + 30_000);
    expect(r.sensor.lux()).toBeGreaterThan(SPOT_LUX * 0.9);
    expect(r.state()).toMatchObject({ current: 'night', blinded: true });
    await until(r, SPOTLIGHT.at + SPOTLIGHT.ms);
    expect(await run(r.b, 'spotlight.set', { on: false })).toMatchObject({ ok: true });
    await until(r, SPOTLIGHT.at + SPOTLIGHT.ms + 10_000);
    expect(r.sensor.lux()).toBeLessThan(8);
    expect(r.state()).toMatchObject({ current: 'night', blinded: false });

    // Dawn and the morning.
    await until(r, END);
    expect(r.state()).toMatchObject({ current: 'day', reason: 'light' });
    const dayAt = events(r).filter((e) => e.type === 'daynight.day')[1]!.t - r.t0;
    const up = crossing(40).dawn;
    expect(dayAt).toBeGreaterThan(up + 60_000 - 3 * MIN);
    expect(dayAt).toBeLessThan(Math.min(DAWN.to, up + 60_000 + 3 * MIN));

    // Sampled all evening on the clock: one reading (the BH1750's two data bytes) per period.
    const reads = r.tl.entries((e) => e.kind === 'i2c' && e.address === 0x23 && e.dir === 'read').length;
    expect(reads).toBeGreaterThanOrEqual(END / SAMPLE_MS - 2);
    expect(reads).toBeLessThanOrEqual(END / SAMPLE_MS + 2);

    console.log(`[daynight] night at ${(nightAt / MIN).toFixed(2)} min (8 lx crossed at ${(dusk / MIN).toFixed(2)}), day at ${(dayAt / MIN).toFixed(2)} min (40 lx crossed at ${(up / MIN).toFixed(2)}), ${reads} readings`);

    // Exactly one switch each way after boot's, as camera events and as filter pulses.
    expect(events(r).map((e) => [e.type, e.reason])).toEqual([
      ['daynight.day', 'boot'],
      ['daynight.night', 'dark'],
      ['daynight.day', 'light'],
    ]);
    const night = r.tl.edges('irCutNight');
    const day = r.tl.edges('irCutDay');
    expect(night.filter((e) => e.value === 1).length).toBe(1);
    expect(day.filter((e) => e.value === 1).length).toBe(2);
    // Each pulse is 100 ms on one line, the other held low.
    for (const edges of [night, day]) {
      for (let i = 0; i + 1 < edges.length; i += 2) expect(edges[i + 1]!.t - edges[i]!.t).toBe(100);
    }
    expect(r.tl.levelAt('irCutNight', night[0]!.t)).toBe(1);
    expect(r.tl.levelAt('irCutDay', night[0]!.t)).toBe(0);

    // lights.changing {ircut} goes out before each pulse: the sequence is tell, pulse, event.
    const ircut = r.seen.filter((s) => (s.what === 'lights' && s.source === 'ircut') || s.what === 'pulse' || s.what === 'event');
    expect(ircut.map((s) => (s.what === 'lights' ? `lights:${s.on ? 'night' : 'day'}` : s.what === 'pulse' ? `pulse:${s.name}` : `event:${s.type}`))).toEqual([
      'lights:day', 'pulse:irCutDay', 'event:daynight.day',
      'lights:night', 'pulse:irCutNight', 'event:daynight.night',
      'lights:day', 'pulse:irCutDay', 'event:daynight.day',
    ]);
    // The spotlight's own lights.changing came from the alarm, and changed nothing here.
    expect(r.seen.filter((s) => s.what === 'lights' && s.source === 'spotlight').map((s) => s.what === 'lights' && s.on)).toEqual([true, false]);
  });

  it('forced night and day switch at once, back to auto decides from the next reading', async () => {
    const r = await rig(() => 500);
    await until(r, 5000);
    expect(r.state().current).toBe('day');
    await r.b.sup.config.patch({ daynight: { mode: 'night' } }, 'test');
    await until(r, 5200);
    expect(r.state()).toMatchObject({ mode: 'night', current: 'night', reason: 'forced' });
    // Held in night whatever the light says, well past the dwell.
    await until(r, 5 * MIN);
    expect(r.state().current).toBe('night');
    await r.b.sup.config.patch({ daynight: { mode: 'auto' } }, 'test');
    await until(r, 5 * MIN + 2500);
    expect(r.state()).toMatchObject({ mode: 'auto', current: 'day', reason: 'mode' });
    expect(events(r).map((e) => e.reason)).toEqual(['boot', 'forced', 'mode']);
    expect(r.tl.edges('irCutNight').filter((e) => e.value === 1).length).toBe(1);
  });

  it('sleep mode: no readings, the filter stays as it is; waking decides at once from a fresh reading', async () => {
    let lux = 500;
    const r = await rig(() => lux);
    await until(r, 5000);
    expect(r.state().current).toBe('day');
    await r.b.sup.config.patch({ capture: { sleep: true } }, 'test');
    const asleepAt = Date.now();
    lux = 0.5;
    await until(r, 30 * MIN);
    expect(r.state()).toMatchObject({ current: 'day', paused: true });
    const reads = r.tl.entries((e) => e.kind === 'i2c' && e.address === 0x23 && e.dir === 'read' && e.t > asleepAt);
    expect(reads).toEqual([]);
    expect(r.tl.edges('irCutNight')).toEqual([]);
    await r.b.sup.config.patch({ capture: { sleep: false } }, 'test');
    await until(r, 30 * MIN + 500);
    expect(r.state()).toMatchObject({ current: 'night', reason: 'wake', paused: false });
  });

  it('without a light sensor auto stays in day; forced night still works', async () => {
    const r = await rig(() => 0, { hardware: { simFailParts: ['lightSensor'] } });
    await until(r, 5 * MIN);
    expect(r.state()).toMatchObject({ current: 'day', reason: 'no-sensor', lux: null });
    await r.b.sup.config.patch({ daynight: { mode: 'night' } }, 'test');
    await until(r, 5 * MIN + 500);
    expect(r.state()).toMatchObject({ current: 'night', reason: 'forced' });
  });

  it('settings: thresholds validated (day above night), changeable from the cloud', async () => {
    const r = await rig(() => 500);
    await expect(r.b.sup.config.patch({ daynight: { nightBelowLux: 50, dayAboveLux: 40 } }, 'test')).rejects.toThrow(/dayAboveLux/);
    await expect(r.b.sup.config.patch({ daynight: { nightBelowLux: 40, dayAboveLux: 40 } }, 'test')).rejects.toThrow(/dayAboveLux/);
    await r.b.sup.config.patch({ daynight: { nightBelowLux: 20, dayAboveLux: 100, minDwellSeconds: 30 } }, 'test');
    expect(r.b.sup.config.get().daynight).toEqual({ mode: 'auto', nightBelowLux: 20, dayAboveLux: 100, minDwellSeconds: 30 });
    expect(() => authorizeSettings(['daynight.mode', 'daynight.nightBelowLux'], 'cloud', () => false)).not.toThrow();
  });
});
