import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LineSwitch } from '../../../drivers/devices/on-off.js';
import { SimGpioChip } from '../../../drivers/gpio/sim.js';
import { Timeline } from '../../../drivers/timeline.js';
import { PatternPlayer, STROBE_PATTERN, TONE_PATTERNS } from '../../../src/alarm/pattern.js';
import { systemClock } from '../../../src/core/clock.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => vi.useRealTimers());

function rig() {
  const timeline = new Timeline(systemClock);
  const chip = new SimGpioChip({ clock: systemClock, timeline });
  const red = new LineSwitch(chip.openOutput('red', 1));
  const blue = new LineSwitch(chip.openOutput('blue', 2));
  const siren = new LineSwitch(chip.openOutput('siren', 3));
  const errors: unknown[] = [];
  return { timeline, red, blue, siren, errors, onError: (e: unknown) => errors.push(e) };
}

describe('PatternPlayer', () => {
  it('strobe: red falls before blue rises at the same instant, period 300 ms', () => {
    const r = rig();
    const p = new PatternPlayer(systemClock, { red: r.red, blue: r.blue }, r.onError);
    const t0 = Date.now();
    const order: string[] = [];
    r.timeline.onRecord((e) => e.kind === 'gpio' && order.push(`${e.name}${e.value}`));
    p.start(STROBE_PATTERN);
    vi.advanceTimersByTime(600);
    expect(order).toEqual(['red1', 'red0', 'blue1', 'blue0', 'red1', 'red0', 'blue1', 'blue0', 'red1']);
    expect(r.timeline.edges('blue', t0, t0 + 600).map((e) => e.t - t0)).toEqual([150, 300, 450, 600]);
    p.stop();
    expect(r.red.isOn() || r.blue.isOn()).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(r.timeline.edges('red', t0 + 601, Date.now())).toEqual([]);
    expect(r.errors).toEqual([]);
  });

  it('chime: two short pips at the start of every second', () => {
    const r = rig();
    const p = new PatternPlayer(systemClock, { siren: r.siren }, r.onError);
    const t0 = Date.now();
    p.start(TONE_PATTERNS.chime);
    vi.advanceTimersByTime(5000);
    const rises = r.timeline.edges('siren', t0, t0 + 4999).filter((e) => e.value === 1).map((e) => e.t - t0);
    // Two pips per second: at 0 and 250 ms of each 1 s cycle.
    expect(rises).toEqual([0, 250, 1000, 1250, 2000, 2250, 3000, 3250, 4000, 4250]);
    p.stop();
  });

  it('skips a missing part and reports a part that throws, without stopping', () => {
    const r = rig();
    const broken = { set: () => { throw new Error('EIO'); }, isOn: () => false };
    const p = new PatternPlayer(systemClock, { red: broken, blue: undefined }, r.onError);
    p.start(STROBE_PATTERN);
    vi.advanceTimersByTime(300);
    expect(p.playing).toBe(true);
    expect(r.errors.length).toBeGreaterThanOrEqual(2);
    p.stop();
  });
});
