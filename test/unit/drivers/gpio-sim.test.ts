import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { SimGpioChip } from '../../../drivers/gpio/sim.js';
import { Timeline } from '../../../drivers/timeline.js';

describe('SimGpioChip', () => {
  let timeline: Timeline;
  let chip: SimGpioChip;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    timeline = new Timeline(systemClock);
    chip = new SimGpioChip({ clock: systemClock, timeline });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('records logical and physical levels, honouring activeLow', () => {
    const led = chip.openOutput('ledRed', 17, { activeLow: true });
    led.write(1);
    expect(led.read()).toBe(1);
    expect(chip.snapshot()).toEqual([{ name: 'ledRed', line: 17, direction: 'out', value: 1, physical: 0 }]);
    expect(timeline.entries()).toMatchObject([
      { kind: 'gpio', name: 'ledRed', line: 17, value: 0, physical: 1, direction: 'out' },
      { kind: 'gpio', name: 'ledRed', line: 17, value: 1, physical: 0, direction: 'out' },
    ]);
  });

  it('records only real changes, not repeated writes of the same level', () => {
    const led = chip.openOutput('ledBlue', 27);
    led.write(1);
    led.write(1);
    led.write(0);
    led.write(0);
    expect(timeline.entries().map((e) => (e.kind === 'gpio' ? e.value : -1))).toEqual([0, 1, 0]);
  });

  it('starts an output at its initial level', () => {
    const out = chip.openOutput('siren', 24, { initial: 1 });
    expect(out.read()).toBe(1);
    expect(timeline.levelAt('siren', Date.now())).toBe(1);
  });

  it('refuses a line that is already open with EBUSY, and frees it on close (driven inactive)', () => {
    const a = chip.openOutput('strobeRed', 22);
    a.write(1);
    expect(() => chip.openOutput('other', 22)).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/line 22 .*busy.*strobeRed/) }));
    expect(() => chip.openInput('strobeRed', 23)).toThrow(/already used by line 22/);
    a.close();
    expect(timeline.levelAt('strobeRed', Date.now())).toBe(0);
    expect(() => a.write(1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(chip.openOutput('other', 22).read()).toBe(0);
  });

  it('fails lines listed in failLines, by number or name', () => {
    const failing = new SimGpioChip({ clock: systemClock, timeline, failLines: [5, 'siren'] });
    expect(() => failing.openOutput('irCutDay', 5)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(() => failing.openOutput('siren', 24)).toThrow(/line 24 \(siren\)/);
    expect(failing.isOpen(5)).toBe(false);
    expect(failing.openOutput('ok', 6).read()).toBe(0);
  });

  it('ignores a 10 ms glitch with 30 ms debounce and reports a real press once it has held', () => {
    const reset = chip.openInput('reset', 4, { activeLow: true, debounceMs: 30 });
    const seen: number[] = [];
    reset.watch((l) => seen.push(l));

    chip.setInput('reset', 1);
    vi.advanceTimersByTime(10);
    chip.setInput('reset', 0);
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([]);
    expect(reset.read()).toBe(0);

    chip.setInput('reset', 1);
    vi.advanceTimersByTime(29);
    expect(reset.read()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(reset.read()).toBe(1);
    expect(seen).toEqual([1]);
    expect(chip.snapshot()[0]).toMatchObject({ value: 1, physical: 0 });
  });

  it('delivers input changes immediately without debounce and stops after unwatch', () => {
    const input = chip.openInput('in', 9);
    const seen: number[] = [];
    const off = input.watch((l) => seen.push(l));
    chip.setInput(9, 1);
    off();
    chip.setInput(9, 0);
    expect(seen).toEqual([1]);
  });

  it('keeps an input level driven before the line is opened (button held at power-on)', () => {
    chip.setInput(4, 1);
    expect(chip.openInput('reset', 4, { debounceMs: 30 }).read()).toBe(1);
  });

  it('refuses to drive an output from outside or an unknown name', () => {
    chip.openOutput('led', 3);
    expect(() => chip.setInput('led', 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => chip.setInput('nope', 1)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('close() drives every output inactive and releases every line', () => {
    chip.openOutput('a', 1).write(1);
    chip.openInput('b', 2);
    chip.close();
    expect(chip.snapshot()).toEqual([]);
    expect(timeline.levelAt('a', Date.now())).toBe(0);
  });
});
