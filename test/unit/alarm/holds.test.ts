import { describe, expect, it } from 'vitest';
import { holdCapMs, MANUAL_ALARM_MAX_SECONDS } from '../../../src/alarm/bounds.js';
import { Holds, OUTPUTS, type CapFn, type HoldSource } from '../../../src/alarm/holds.js';
import { defaultConfig } from '../../../src/config/schema.js';

const NO_CAP: CapFn = () => Infinity;

describe('Holds', () => {
  it('an output is on while any hold is live; expiry drops only ended holds', () => {
    const h = new Holds(NO_CAP);
    h.set('siren', { source: 'human', until: 1000, since: 0, tone: 'beep' });
    h.set('siren', { source: 'manual', until: 5000, since: 10, tone: 'siren' });
    expect(h.nextExpiry()).toBe(1000);
    expect(h.expire(999)).toBe(false);
    expect(h.expire(1000)).toBe(true);
    expect(h.list('siren').map((x) => x.source)).toEqual(['manual']);
    expect(h.expire(5000)).toBe(true);
    expect(h.has('siren')).toBe(false);
  });

  it('a repeated hold from the same source extends, never shortens', () => {
    const h = new Holds(NO_CAP);
    h.set('spotlight', { source: 'change', until: 10_000, since: 0 });
    h.set('spotlight', { source: 'change', until: 4_000, since: 1 });
    expect(h.list('spotlight')[0]!.until).toBe(10_000);
    h.set('spotlight', { source: 'change', until: 16_000, since: 2 });
    expect(h.list('spotlight')[0]!.until).toBe(16_000);
  });

  it('latest prefers the given source, else the most recent; the app toggle and hand tests are no alarm', () => {
    const h = new Holds(() => 60_000);
    h.set('siren', { source: 'human', until: 100, since: 5, tone: 'chime' });
    h.set('siren', { source: 'vehicle', until: 100, since: 7, tone: 'beep' });
    expect(h.latest('siren')?.tone).toBe('beep');
    h.set('siren', { source: 'manual', until: 100, since: 1, tone: 'siren' });
    expect(h.latest('siren', 'manual')?.tone).toBe('siren');
    h.set('spotlight', { source: 'app', until: null, since: 9 });
    h.set('strobeRed', { source: 'hand', until: null, since: 9 });
    expect(h.alarmHolds().map((x) => x.source).sort()).toEqual(['human', 'manual', 'vehicle']);
    expect(h.nextExpiry()).toBe(100);
    expect(h.releaseSource('manual')).toBe(true);
    expect(h.releaseSource('manual')).toBe(false);
  });
});

describe('Holds: every hold ends (the on-time bound)', () => {
  it('"until released" ends at the cap, counted from the activation', () => {
    const h = new Holds(() => 60_000);
    const hold = h.set('siren', { source: 'hand', until: null, since: 1000 });
    expect(hold).toMatchObject({ until: 61_000, activeSince: 1000, requested: null });
    expect(h.offAt('siren')).toBe(61_000);
  });

  it('asking again while on does not re-arm: a loop of "on" gets one capped activation', () => {
    const h = new Holds(() => 60_000);
    h.set('siren', { source: 'hand', until: null, since: 0 });
    for (let t = 1000; t < 60_000; t += 1000) expect(h.set('siren', { source: 'hand', until: null, since: t }).until).toBe(60_000);
    expect(h.expire(60_000)).toBe(true);
    // Once it has ended, a new request is a new activation.
    expect(h.set('siren', { source: 'hand', until: null, since: 60_500 })).toMatchObject({ activeSince: 60_500, until: 120_500 });
  });

  it('an expired but not yet dropped hold does not carry its activation over', () => {
    const h = new Holds(() => 10_000);
    h.set('spotlight', { source: 'app', until: null, since: 0 });
    expect(h.set('spotlight', { source: 'app', until: null, since: 10_000 })).toMatchObject({ activeSince: 10_000, until: 20_000 });
  });

  it('replace restarts as asked, shorter or longer, but within the activation cap', () => {
    const h = new Holds(() => 900_000);
    h.set('siren', { source: 'manual', until: 60_000, since: 0 }, { replace: true });
    expect(h.set('siren', { source: 'manual', until: 10_000, since: 5000 }, { replace: true }).until).toBe(10_000);
    expect(h.set('siren', { source: 'manual', until: 600_000, since: 9000 }, { replace: true }).until).toBe(600_000);
    // Restarted every 500 s with 900 s asked: still off 900 s after the first start.
    expect(h.set('siren', { source: 'manual', until: 1_400_000, since: 500_000 }, { replace: true })).toMatchObject({ until: 900_000, activeSince: 0 });
  });

  it('recap applies a changed bound to running holds, both ways, never past what was asked', () => {
    let cap = 60_000;
    const h = new Holds(() => cap);
    h.set('siren', { source: 'hand', until: null, since: 0 });
    h.set('strobe', { source: 'manual', until: 30_000, since: 0 });
    cap = 20_000;
    expect(h.recap()).toBe(true);
    expect(h.get('siren', 'hand')!.until).toBe(20_000);
    expect(h.get('strobe', 'manual')!.until).toBe(20_000);
    cap = 120_000;
    expect(h.recap()).toBe(true);
    expect(h.get('siren', 'hand')!.until).toBe(120_000);
    expect(h.get('strobe', 'manual')!.until).toBe(30_000);
    expect(h.recap()).toBe(false);
  });

  it('a hold without an end and without a cap is refused (a bug, never a silent "for ever")', () => {
    const h = new Holds(NO_CAP);
    expect(() => h.set('spotlight', { source: 'app', until: null, since: 0 })).toThrow(/no end/);
    expect(h.has('spotlight')).toBe(false);
  });
});

describe('holdCapMs: the bound of every hand-switched source, from the settings', () => {
  const cfg = defaultConfig();
  it('siren and strobe lines by hand: alarm.timeoutSeconds; spotlight toggle: lights.spotlightMaxSeconds; Alarm: 900 s', () => {
    for (const o of ['siren', 'strobeRed', 'strobeBlue', 'strobe'] as const) expect(holdCapMs(cfg, o, 'hand')).toBe(cfg.alarm.timeoutSeconds * 1000);
    expect(holdCapMs(cfg, 'spotlight', 'app')).toBe(900_000);
    expect(holdCapMs(cfg, 'spotlight', 'hand')).toBe(900_000);
    expect(holdCapMs(cfg, 'siren', 'manual')).toBe(MANUAL_ALARM_MAX_SECONDS * 1000);
    expect(holdCapMs({ ...cfg, lights: { ...cfg.lights, spotlightMaxSeconds: 30 } }, 'spotlight', 'app')).toBe(30_000);
  });

  it('every hand source on every output has a finite bound', () => {
    const hand: HoldSource[] = ['hand', 'app', 'manual'];
    for (const o of OUTPUTS) for (const s of hand) expect(Number.isFinite(holdCapMs(cfg, o, s)), `${s} on ${o}`).toBe(true);
  });
});
