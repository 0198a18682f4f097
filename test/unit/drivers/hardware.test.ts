import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadBoard } from '../../../board/schema.js';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { openHardware, type Hardware } from '../../../drivers/hardware.js';

const board = loadBoard(join(resolve(import.meta.dirname, '../../../board'), 'sim.json'));
const ALL = ['statusLed', 'strobeRed', 'strobeBlue', 'siren', 'spotlight', 'resetButton', 'irCut', 'lightSensor', 'ptz', 'widePan'];

describe('openHardware on the sim board', () => {
  const logging = silentLogging();
  const log = (c: string) => logging.forComponent(c);
  let hw: Hardware | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 0 });
  });
  afterEach(async () => {
    await hw?.close();
    hw = undefined;
    vi.useRealTimers();
  });

  it('opens every part, with the sim board and its timeline', async () => {
    hw = await openHardware(board, { clock: systemClock, log });
    expect(Object.keys(hw.parts).sort()).toEqual([...ALL].sort());
    expect(hw.failures).toEqual({});
    expect(hw.sim).toBeDefined();
    expect(hw.timeline).toBe(hw.sim!.timeline);
    expect(hw.outputs()).toEqual({
      statusLed: 'off',
      strobeRed: false,
      strobeBlue: false,
      siren: false,
      spotlight: { on: false, brightnessPct: 100 },
      irCut: 'unknown',
      resetButton: { pressed: false },
      lines: { ledRed: 0, ledBlue: 0, strobeRed: 0, strobeBlue: 0, siren: 0, spotlightEnable: 0, reset: 0, irCutDay: 0, irCutNight: 0 },
    });
    // The spotlight set the PWM frequency at open.
    expect(hw.sim!.pwm()!.frequencyHz()).toBeCloseTo(1000, -2);
  });

  it('with simFailParts=[siren] reports the siren and opens the rest', async () => {
    hw = await openHardware(board, { clock: systemClock, log, simFailParts: ['siren'] });
    expect(hw.failures).toEqual({ siren: 'GPIO line 24 (siren): failed to open (simulated fault)' });
    expect(hw.parts.siren).toBeUndefined();
    expect(Object.keys(hw.parts).sort()).toEqual(ALL.filter((p) => p !== 'siren').sort());
  });

  it('fails each part through its own bus: NACKing sensor, silent receiver, dead enable line', async () => {
    const opening = openHardware(board, { clock: systemClock, log, simFailParts: ['lightSensor', 'widePan', 'spotlight', 'statusLed'] });
    await vi.advanceTimersByTimeAsync(300); // the silent receiver's reply timeout
    hw = await opening;
    expect(hw.failures.lightSensor).toBe('I2C bus main: no device acknowledged address 0x23');
    expect(hw.failures.widePan).toBe('Pelco-D receiver 2 on rs485 did not answer the pan position query within 300 ms');
    expect(hw.failures.spotlight).toMatch(/GPIO line 25 \(spotlightEnable\)/);
    expect(hw.failures.statusLed).toMatch(/GPIO line 17 \(ledRed\)/);
    expect(hw.parts.ptz).toBeDefined();
    // A part that failed half-way released what it had opened: ledBlue is free again.
    expect(hw.sim!.gpio.isOpen('ledBlue')).toBe(false);
  });

  it('drives parts through to the sim: LED, spotlight PWM, PTZ twin, light sensor, reset press', async () => {
    hw = await openHardware(board, { clock: systemClock, log });
    const { parts, sim } = hw;
    parts.statusLed!.set('blue');
    expect(sim!.gpio.level('ledBlue')).toBe(1);
    await parts.spotlight!.set(true, 40);
    expect(sim!.pwm()!.dutyCycle(0)).toBeCloseTo(0.4, 3);

    await parts.ptz!.gotoPan(90);
    vi.advanceTimersByTime(2000);
    expect(await parts.ptz!.queryPosition()).toEqual({ pan: 90, tilt: 0 });
    expect(sim!.twins.ptz!.position().pan).toBe(90);
    expect(await parts.widePan!.queryPosition()).toEqual({ pan: 170, tilt: 0 });

    sim!.lightSensor()!.setLux(600);
    await vi.advanceTimersByTimeAsync(200);
    expect(await parts.lightSensor!.readLux()).toBe(600);

    const seen: boolean[] = [];
    parts.resetButton!.onChange((p) => seen.push(p));
    const released = sim!.press('reset', 1000);
    await vi.advanceTimersByTimeAsync(100);
    expect(parts.resetButton!.isPressed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    await released;
    expect(seen).toEqual([true, false]);
    // activeLow on the board: pressed drives the pin low.
    const resetEdges = hw.timeline!.entries((e) => e.kind === 'gpio' && e.name === 'reset');
    expect(resetEdges.map((e) => (e.kind === 'gpio' ? [e.value, e.physical] : []))).toEqual([[0, 1], [1, 0], [0, 1]]);
  });

  it('allOff turns every output off and stops the motors; close releases everything', async () => {
    hw = await openHardware(board, { clock: systemClock, log });
    const { parts, sim } = hw;
    parts.statusLed!.set('red');
    parts.strobeRed!.set(true);
    parts.strobeBlue!.set(true);
    parts.siren!.set(true);
    await parts.spotlight!.set(true, 80);
    await parts.ptz!.move(0x20, 0x10);
    await hw.allOff();
    expect(hw.outputs()).toMatchObject({
      statusLed: 'off',
      strobeRed: false,
      strobeBlue: false,
      siren: false,
      spotlight: { on: false, brightnessPct: 80 },
    });
    expect(sim!.pwm()!.dutyCycle(0)).toBe(0);
    expect(sim!.twins.ptz!.moves.at(-1)).toMatchObject({ kind: 'stop' });
    await hw.close();
    await hw.close();
    expect(sim!.gpio.snapshot()).toEqual([]);
    hw = undefined;
  });
});

describe('SimBoard.press', () => {
  it('never outlives the board: closing cancels the pending release', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    try {
      const logging = silentLogging();
      const hw = await openHardware(board, { clock: systemClock, log: (c) => logging.forComponent(c) });
      const released = hw.sim!.press('reset', 60_000);
      await hw.close();
      await released;
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
