import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Timeline } from '../../drivers/timeline.js';
import { AlarmService, alarmService } from '../../src/alarm/service.js';
import type { EpisodePhase } from '../../src/domain/episode.js';
import type { DetectionType, LensName } from '../../src/domain/types.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { episode } from '../harness/episode.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The alarm service in the whole supervisor on the sim board, under fake timers: what the
 * strobes, siren and spotlight really did, read back from the sim board's timeline of pin edges.
 */
const FAKE = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

let booted: BootedSim | undefined;
beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKE] });
});
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  vi.useRealTimers();
});

async function boot(opts: Parameters<typeof bootSim>[0] = {}): Promise<BootedSim> {
  booted = await bootSim({ services: [alarmService], ...opts });
  return booted;
}

const tl = (b: BootedSim): Timeline => b.sup.hardware.timeline!;
const run = (b: BootedSim, name: string, args: unknown = {}) => b.sup.commands.execute(name, args, { source: 'local' });

function detection(b: BootedSim, type: DetectionType, phase: EpisodePhase, lens: LensName = 'wide'): void {
  b.sup.bus.emit('detection.episode', episode(type, phase, { id: randomUUID(), lens }));
}

function alarmEvents(b: BootedSim): CameraEvent[] {
  const seen: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => {
    if (e.kind === 'alarm') seen.push(e);
  });
  return seen;
}

/**
 * Red and blue are never on together, not even between two writes at the same instant: the
 * strobe entries are replayed in the order the pins changed.
 */
function neverBothOn(t: Timeline, from: number, to: number): boolean {
  const level = { strobeRed: t.levelAt('strobeRed', from - 1) ?? 0, strobeBlue: t.levelAt('strobeBlue', from - 1) ?? 0 };
  for (const e of t.entries({ kind: 'gpio', from, to })) {
    if (e.kind !== 'gpio' || (e.name !== 'strobeRed' && e.name !== 'strobeBlue')) continue;
    level[e.name] = e.value;
    if (level.strobeRed === 1 && level.strobeBlue === 1) return false;
  }
  return true;
}

describe('manual alarm', () => {
  it('flashes red and blue alternately (150 ms each) with the siren on, and stops at the timeout', async () => {
    const b = await boot();
    await b.sup.config.patch({ alarm: { timeoutSeconds: 20 } }, 'test');
    const events = alarmEvents(b);
    const t0 = Date.now();
    const res = await run(b, 'alarm.start');
    expect(res).toMatchObject({ ok: true, result: { active: true, source: 'manual', until: t0 + 20_000, strobes: true, siren: true, missing: [] } });
    await vi.advanceTimersByTimeAsync(3000);
    const t = tl(b);
    const red = t.blinkStats('strobeRed', t0, t0 + 2999);
    const blue = t.blinkStats('strobeBlue', t0, t0 + 2999);
    expect(red.periodMs).toBe(300);
    expect(blue.periodMs).toBe(300);
    expect(red.dutyCycle).toBeCloseTo(0.5, 5);
    expect(blue.dutyCycle).toBeCloseTo(0.5, 5);
    expect(red.rises).toBe(10);
    // Blue rises exactly when red falls: alternation, not a shared blink.
    const redFalls = t.edges('strobeRed', t0, t0 + 3000).filter((e) => e.value === 0).map((e) => e.t);
    const blueRises = t.edges('strobeBlue', t0, t0 + 3000).filter((e) => e.value === 1).map((e) => e.t);
    expect(blueRises.slice(0, 5)).toEqual(redFalls.slice(0, 5));
    expect(neverBothOn(t, t0, t0 + 3000)).toBe(true);
    expect(t.levelAt('siren', t0 + 2999)).toBe(1);
    expect(t.edges('siren', t0 + 1, t0 + 3000)).toEqual([]);

    await vi.advanceTimersByTimeAsync(17_000);
    expect(t.levelAt('strobeRed', t0 + 20_000)).toBe(0);
    expect(t.levelAt('strobeBlue', t0 + 20_000)).toBe(0);
    expect(t.levelAt('siren', t0 + 20_000)).toBe(0);
    // The siren sounded 20 s exactly.
    expect(t.edges('siren', t0, t0 + 30_000)).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 20_000, value: 0 },
    ]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.edges('strobeRed', t0 + 20_001, Date.now())).toEqual([]);
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, strobes: false, siren: false, until: null, source: null });
    expect(events.map((e) => [e.type, e.data?.reason])).toEqual([
      ['alarm.start', undefined],
      ['alarm.stop', 'timeout'],
    ]);
  });

  it('alarm.stop ends it at once; a seconds argument overrides the timeout', async () => {
    const b = await boot();
    const t0 = Date.now();
    await run(b, 'alarm.start', { seconds: 5 });
    await vi.advanceTimersByTimeAsync(1000);
    const stop = await run(b, 'alarm.stop');
    expect(stop).toMatchObject({ ok: true, result: { active: false, strobes: false, siren: false } });
    const t = tl(b);
    expect(t.levelAt('siren', t0 + 1000)).toBe(0);
    expect(t.edges('siren', t0, t0 + 10_000)).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 1000, value: 0 },
    ]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.edges('strobeRed', t0 + 1001, Date.now())).toEqual([]);
  });

  it('rejects bad arguments with the path and changes nothing', async () => {
    const b = await boot();
    const bad = await run(b, 'alarm.start', { seconds: 0 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'seconds' } });
    const extra = await run(b, 'spotlight.set', { on: true, brightness: 101 });
    expect(extra).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'brightness' } });
    await vi.advanceTimersByTimeAsync(1000);
    expect(tl(b).entries((e) => e.kind === 'gpio' && ['strobeRed', 'strobeBlue', 'siren', 'spotlightEnable'].includes(e.name) && e.value === 1)).toEqual([]);
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, spotlight: false });
  });

  it('runs with the parts that exist and reports the missing ones', async () => {
    const b = await boot({ hardware: { simFailParts: ['strobeBlue', 'siren'] } });
    const t0 = Date.now();
    const res = await run(b, 'alarm.start', { seconds: 3 });
    expect(res).toMatchObject({ ok: true, result: { active: true, strobes: true, siren: false, missing: ['strobeBlue', 'siren'] } });
    await vi.advanceTimersByTimeAsync(3000);
    const red = tl(b).blinkStats('strobeRed', t0, t0 + 3000);
    expect(red.periodMs).toBe(300);
    expect(red.dutyCycle).toBeCloseTo(0.5, 5);
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, missing: ['strobeBlue', 'siren'] });
  });

  it('answers unavailable when neither siren nor strobes exist', async () => {
    const b = await boot({ hardware: { simFailParts: ['strobeRed', 'strobeBlue', 'siren'] } });
    const res = await run(b, 'alarm.start');
    expect(res).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(b.sup.state.get().alarm?.active).toBe(false);
  });
});

describe('detection alerts', () => {
  it('runs the light and audio settings of the detected type, each for its own time', async () => {
    const b = await boot();
    await b.sup.config.patch(
      {
        lights: { human: { strobe: true, strobeSeconds: 4, spotlight: true, spotlightSeconds: 8 }, spotlightBrightness: 60 },
        audio: { human: { siren: true, tone: 'beep', sirenSeconds: 3 } },
      },
      'test',
    );
    const changing: { source: string; on: boolean; ts: number }[] = [];
    b.sup.bus.on({ name: 'test' }, 'lights.changing', (e) => void changing.push(e));
    const t0 = Date.now();
    detection(b, 'human', 'start');
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.sup.hardware.sim!.pwm()!.dutyCycle(0)).toBeCloseTo(0.6, 2);
    expect(b.sup.state.get().alarm).toMatchObject({ active: true, source: 'human', until: t0 + 8000, strobes: true, siren: true, spotlight: true, spotlightBrightness: 60 });
    await vi.advanceTimersByTimeAsync(9000);
    const t = tl(b);
    // Spotlight: on for 8 s at 60 % (enable line plus the PWM duty written over I2C).
    expect(t.edges('spotlightEnable', t0, t0 + 10_000)).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 8000, value: 0 },
    ]);
    expect(b.sup.hardware.sim!.pwm()!.dutyCycle(0)).toBe(0);
    // Strobes 4 s, alternating, then dark.
    const red = t.blinkStats('strobeRed', t0, t0 + 4000);
    expect(red.periodMs).toBe(300);
    expect(t.levelAt('strobeRed', t0 + 4000)).toBe(0);
    expect(t.levelAt('strobeBlue', t0 + 4000)).toBe(0);
    expect(t.edges('strobeRed', t0 + 4001, t0 + 10_000)).toEqual([]);
    expect(neverBothOn(t, t0, t0 + 4000)).toBe(true);
    // Siren "beep": 500 ms on / 500 ms off for 3 s.
    const siren = t.blinkStats('siren', t0, t0 + 3000);
    expect(siren.periodMs).toBe(1000);
    expect(siren.dutyCycle).toBeCloseTo(0.5, 5);
    expect(t.levelAt('siren', t0 + 3000)).toBe(0);
    expect(t.edges('siren', t0 + 3001, t0 + 10_000)).toEqual([]);
    // The change detector was told before each light switched.
    expect(changing).toEqual([
      { source: 'strobe', on: true, ts: t0 },
      { source: 'spotlight', on: true, ts: t0 },
      { source: 'strobe', on: false, ts: t0 + 4000 },
      { source: 'spotlight', on: false, ts: t0 + 8000 },
    ]);
  });

  it('announces each light change before the pin moves', async () => {
    const b = await boot();
    await b.sup.config.patch({ lights: { vehicle: { strobe: true, strobeSeconds: 2 } } }, 'test');
    const order: string[] = [];
    b.sup.bus.on({ name: 'test' }, 'lights.changing', (e) => void order.push(`event:${e.source}:${e.on}`));
    const off = tl(b).onRecord((e) => {
      if (e.kind === 'gpio' && (e.name === 'strobeRed' || e.name === 'strobeBlue')) order.push(`pin:${e.name}:${e.value}`);
    });
    detection(b, 'vehicle', 'start');
    await vi.advanceTimersByTimeAsync(3000);
    off();
    expect(order[0]).toBe('event:strobe:true');
    expect(order[1]).toBe('pin:strobeRed:1');
    // At the end: the announcement, then the one strobe that was lit goes dark, and nothing after.
    expect(order.slice(-2)).toEqual(['event:strobe:false', expect.stringMatching(/^pin:strobe(Red|Blue):0$/)]);
    expect(order.filter((o) => o.startsWith('event:'))).toHaveLength(2);
  });

  it('strobes do nothing for a detection whose light setting is off', async () => {
    const b = await boot();
    // Spotlight on for humans proves the detection was acted on; strobes stay off.
    await b.sup.config.patch({ lights: { human: { strobe: false, spotlight: true, spotlightSeconds: 5 }, vehicle: { strobe: true } } }, 'test');
    const t0 = Date.now();
    detection(b, 'human', 'start');
    await vi.advanceTimersByTimeAsync(6000);
    const t = tl(b);
    expect(t.edges('spotlightEnable', t0, t0 + 6000)).toHaveLength(2);
    expect(t.edges('strobeRed', t0, t0 + 6000)).toEqual([]);
    expect(t.edges('strobeBlue', t0, t0 + 6000)).toEqual([]);
  });

  it('ignores updates and ends, and the factory defaults switch nothing on', async () => {
    const b = await boot();
    const t0 = Date.now();
    detection(b, 'human', 'start');
    await b.sup.config.patch({ lights: { human: { strobe: true } } }, 'test');
    detection(b, 'human', 'update');
    detection(b, 'human', 'end');
    await vi.advanceTimersByTimeAsync(2000);
    expect(tl(b).entries((e) => e.kind === 'gpio' && e.t >= t0 && e.value === 1 && e.name !== 'ledBlue' && e.name !== 'ledRed')).toEqual([]);
  });

  it('a repeated detection extends the alert, never shortens it', async () => {
    const b = await boot();
    await b.sup.config.patch({ lights: { change: { spotlight: true, spotlightSeconds: 10 } } }, 'test');
    const t0 = Date.now();
    detection(b, 'change', 'start');
    await vi.advanceTimersByTimeAsync(6000);
    detection(b, 'change', 'start');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(tl(b).edges('spotlightEnable', t0, Date.now())).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 16_000, value: 0 },
    ]);
  });

  it('switching a light setting off stops that alert at once', async () => {
    const b = await boot();
    await b.sup.config.patch({ lights: { human: { strobe: true, strobeSeconds: 30 } } }, 'test');
    const t0 = Date.now();
    detection(b, 'human', 'start');
    await vi.advanceTimersByTimeAsync(1000);
    await b.sup.config.patch({ lights: { human: { strobe: false } } }, 'test');
    const t1 = Date.now();
    await vi.advanceTimersByTimeAsync(5000);
    expect(tl(b).edges('strobeRed', t1 + 1, Date.now())).toEqual([]);
    expect(tl(b).levelAt('strobeRed', t1)).toBe(0);
    expect(tl(b).edges('strobeRed', t0, t1).length).toBeGreaterThan(0);
  });

  it('maintenance mode: detections switch nothing on, the spotlight toggle still works', async () => {
    const b = await boot();
    await b.sup.config.patch({ alarm: { maintenance: true }, lights: { human: { strobe: true, spotlight: true } }, audio: { human: { siren: true } } }, 'test');
    const t0 = Date.now();
    detection(b, 'human', 'start');
    await vi.advanceTimersByTimeAsync(2000);
    const t = tl(b);
    for (const line of ['strobeRed', 'strobeBlue', 'siren', 'spotlightEnable']) expect(t.edges(line, t0, Date.now())).toEqual([]);
    expect(b.sup.state.get().alarm).toMatchObject({ maintenance: true, active: false });
    const res = await run(b, 'spotlight.set', { on: true, brightness: 20 });
    expect(res).toMatchObject({ ok: true, result: { spotlight: true, spotlightBrightness: 20 } });
  });
});

describe('spotlight toggle, sleep and shutdown', () => {
  it('spotlight.set on stays on until off; a detection alert on top does not switch it off', async () => {
    const b = await boot();
    await b.sup.config.patch({ lights: { human: { spotlight: true, spotlightSeconds: 5 } } }, 'test');
    const t0 = Date.now();
    expect(await run(b, 'spotlight.set', { on: true })).toMatchObject({ ok: true, result: { spotlight: true, spotlightBrightness: 100, active: false } });
    detection(b, 'human', 'start');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tl(b).edges('spotlightEnable', t0, Date.now())).toEqual([{ t: t0, value: 1 }]);
    expect(await run(b, 'spotlight.set', { on: false })).toMatchObject({ ok: true, result: { spotlight: false } });
    expect(tl(b).levelAt('spotlightEnable', Date.now())).toBe(0);
  });

  it('sleep mode stops everything, ignores detections and refuses to switch anything on', async () => {
    const b = await boot();
    await b.sup.config.patch({ lights: { human: { strobe: true, spotlight: true } } }, 'test');
    const events = alarmEvents(b);
    await run(b, 'alarm.start');
    await run(b, 'spotlight.set', { on: true });
    await vi.advanceTimersByTimeAsync(1000);
    b.sup.state.set('sleeping', true);
    await vi.advanceTimersByTimeAsync(1);
    const ts = Date.now();
    const t = tl(b);
    for (const line of ['strobeRed', 'strobeBlue', 'siren', 'spotlightEnable']) expect(t.levelAt(line, ts)).toBe(0);
    detection(b, 'human', 'start');
    expect(await run(b, 'alarm.start')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await run(b, 'spotlight.set', { on: true })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await vi.advanceTimersByTimeAsync(5000);
    for (const line of ['strobeRed', 'strobeBlue', 'siren', 'spotlightEnable']) expect(t.edges(line, ts, Date.now())).toEqual([]);
    expect(events.map((e) => [e.type, e.data?.reason])).toEqual([
      ['alarm.start', undefined],
      ['alarm.stop', 'sleep'],
    ]);
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, strobes: false, siren: false, spotlight: false });
  });

  it('stop() turns everything off', async () => {
    let svc: AlarmService | undefined;
    const b = await boot({ services: [(ctx) => (svc = new AlarmService(ctx))] });
    await run(b, 'alarm.start');
    await run(b, 'spotlight.set', { on: true });
    await vi.advanceTimersByTimeAsync(1000);
    const t = tl(b);
    expect(t.levelAt('siren', Date.now())).toBe(1);
    // The service alone, with the hardware still open: nothing else can have switched them off.
    await svc!.stop();
    const ts = Date.now();
    for (const line of ['strobeRed', 'strobeBlue', 'siren', 'spotlightEnable']) expect(t.levelAt(line, ts)).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    for (const line of ['strobeRed', 'strobeBlue', 'siren', 'spotlightEnable']) expect(t.edges(line, ts + 1, Date.now())).toEqual([]);
  });
});
