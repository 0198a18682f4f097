import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { SimGpioChip } from '../../../drivers/gpio/sim.js';
import { SimI2cBus } from '../../../drivers/i2c/sim.js';
import { Pca9685Model } from '../../../drivers/i2c/models/pca9685.js';
import { Pca9685 } from '../../../drivers/devices/pca9685.js';
import { TwoLineStatusLed } from '../../../drivers/devices/status-led.js';
import { openStrobe } from '../../../drivers/devices/strobe.js';
import { openSiren } from '../../../drivers/devices/siren.js';
import { GpioResetButton } from '../../../drivers/devices/reset-button.js';
import { PulsedIrCut } from '../../../drivers/devices/ir-cut.js';
import { PwmSpotlight } from '../../../drivers/devices/spotlight.js';
import { Timeline } from '../../../drivers/timeline.js';

describe('device parts on the sim board', () => {
  let timeline: Timeline;
  let chip: SimGpioChip;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 0 });
    timeline = new Timeline(systemClock);
    chip = new SimGpioChip({ clock: systemClock, timeline });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('status LED shows one colour at a time and never lights both', () => {
    const led = new TwoLineStatusLed(chip.openOutput('ledRed', 17), chip.openOutput('ledBlue', 27));
    const both: number[] = [];
    timeline.onRecord(() => {
      if (chip.level('ledRed') === 1 && chip.level('ledBlue') === 1) both.push(Date.now());
    });
    for (const c of ['red', 'blue', 'red', 'off', 'blue', 'blue', 'red'] as const) {
      led.set(c);
      expect(led.get()).toBe(c);
      vi.advanceTimersByTime(100);
    }
    expect(both).toEqual([]);
    expect(timeline.edges('ledRed').map((e) => e.value)).toEqual([1, 0, 1, 0, 1]);
  });

  it('strobe and siren follow their line', () => {
    const strobe = openStrobe(chip.openOutput('strobeRed', 22));
    const siren = openSiren(chip.openOutput('siren', 24, { activeLow: true }));
    strobe.set(true);
    siren.set(true);
    expect([strobe.isOn(), siren.isOn()]).toEqual([true, true]);
    expect(chip.snapshot().find((l) => l.name === 'siren')).toMatchObject({ value: 1, physical: 0 });
    siren.set(false);
    expect(siren.isOn()).toBe(false);
  });

  it('reset button: a 10 ms glitch is ignored with 30 ms debounce; a press and release are reported', () => {
    const button = new GpioResetButton(chip.openInput('reset', 4, { activeLow: true, debounceMs: 30 }));
    const seen: boolean[] = [];
    button.onChange((p) => seen.push(p));
    chip.setInput('reset', 1);
    vi.advanceTimersByTime(10);
    chip.setInput('reset', 0);
    vi.advanceTimersByTime(200);
    expect(seen).toEqual([]);
    chip.setInput('reset', 1);
    vi.advanceTimersByTime(40);
    expect(button.isPressed()).toBe(true);
    chip.setInput('reset', 0);
    vi.advanceTimersByTime(40);
    expect(seen).toEqual([true, false]);
    button.close();
    chip.setInput('reset', 1);
    vi.advanceTimersByTime(40);
    expect(seen).toEqual([true, false]);
  });

  it('IR-cut pulses the chosen H-bridge line for 100 ms, one line at a time', async () => {
    const ir = new PulsedIrCut(chip.openOutput('irCutDay', 5), chip.openOutput('irCutNight', 6), systemClock);
    expect(ir.get()).toBe('unknown');
    const night = ir.set('night');
    const day = ir.set('day'); // queued behind the first pulse
    await vi.advanceTimersByTimeAsync(100);
    await night;
    expect(ir.get()).toBe('night');
    await vi.advanceTimersByTimeAsync(100);
    await day;
    expect(ir.get()).toBe('day');
    expect(timeline.edges('irCutNight')).toEqual([{ t: 0, value: 1 }, { t: 100, value: 0 }]);
    expect(timeline.edges('irCutDay')).toEqual([{ t: 100, value: 1 }, { t: 200, value: 0 }]);
  });

  it('spotlight.set(true, 40) gives 40 % duty at the board frequency with the enable line high', async () => {
    const bus = new SimI2cBus('main', timeline);
    const model = new Pca9685Model();
    bus.attach(0x40, model);
    const spot = await PwmSpotlight.open(chip.openOutput('spotlightEnable', 25), new Pca9685(bus, 0x40), 0, 1000);
    expect(model.frequencyHz()).toBeCloseTo(1000, -2);
    expect(model.dutyCycle(0)).toBe(0);
    await spot.set(true, 40);
    expect(model.dutyCycle(0)).toBeCloseTo(0.4, 3);
    expect(chip.level('spotlightEnable')).toBe(1);
    expect(spot.state()).toEqual({ on: true, brightnessPct: 40 });
    await spot.set(true);
    expect(model.dutyCycle(0)).toBeCloseTo(0.4, 3);
    await spot.set(true, 100);
    expect(model.dutyCycle(0)).toBe(1);
    await spot.set(false);
    expect(model.dutyCycle(0)).toBe(0);
    expect(chip.level('spotlightEnable')).toBe(0);
    expect(spot.state()).toEqual({ on: false, brightnessPct: 100 });
    await expect(spot.set(true, 0)).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('spotlight goes dark on the enable line even when the PWM controller stops answering', async () => {
    const bus = new SimI2cBus('main', timeline);
    bus.attach(0x40, new Pca9685Model());
    const spot = await PwmSpotlight.open(chip.openOutput('spotlightEnable', 25), new Pca9685(bus, 0x40), 0, 1000);
    await spot.set(true, 50);
    bus.detach(0x40);
    await expect(spot.set(false)).rejects.toMatchObject({ code: 'EREMOTEIO' });
    expect(chip.level('spotlightEnable')).toBe(0);
    expect(spot.state().on).toBe(false);
  });
});
