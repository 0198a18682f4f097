import { describe, expect, it } from 'vitest';
import type { BinaryValue, Direction, Edge, Options } from 'onoff';
import { gpioOpenError, OnoffGpioChip, type OnoffGpio } from '../../../drivers/gpio/onoff.js';

/** Stands in for onoff's Gpio: records how each line was requested and what was written. */
function fakeOnoff(fail?: Record<number, string>) {
  const made: { line: number; direction: Direction; edge?: Edge; options?: Options; fake: FakeGpio }[] = [];
  class FakeGpio implements OnoffGpio {
    value: BinaryValue = 0;
    writes: BinaryValue[] = [];
    callbacks: ((err: Error | null | undefined, v: BinaryValue) => void)[] = [];
    unexported = false;
    constructor(line: number, direction: Direction, edge?: Edge, options?: Options) {
      const code = fail?.[line];
      if (code) throw Object.assign(new Error(`${code}: failure, write`), { code });
      made.push({ line, direction, edge, options, fake: this });
    }
    readSync(): BinaryValue {
      return this.value;
    }
    writeSync(v: BinaryValue): void {
      this.writes.push(v);
    }
    watch(cb: (err: Error | null | undefined, v: BinaryValue) => void): void {
      this.callbacks.push(cb);
    }
    unwatchAll(): void {
      this.callbacks = [];
    }
    unexport(): void {
      this.unexported = true;
    }
  }
  return { made, Gpio: FakeGpio };
}

describe('onoff GPIO backend', () => {
  it('converts the initial level to a raw direction, since sysfs "high"/"low" ignore active_low', () => {
    const { made, Gpio } = fakeOnoff();
    const chip = new OnoffGpioChip(Gpio);
    chip.openOutput('ledRed', 109, { activeLow: true });
    chip.openOutput('siren', 115, { initial: 1 });
    chip.openOutput('strobe', 113);
    expect(made.map((m) => [m.line, m.direction, m.options?.activeLow])).toEqual([
      [109, 'high', true],
      [115, 'high', false],
      [113, 'low', false],
    ]);
  });

  it('opens inputs with edge both, activeLow and debounceTimeout, and reports only changes', () => {
    const { made, Gpio } = fakeOnoff();
    const chip = new OnoffGpioChip(Gpio);
    const reset = chip.openInput('reset', 97, { activeLow: true, debounceMs: 30 });
    expect(made[0]).toMatchObject({ line: 97, direction: 'in', edge: 'both', options: { activeLow: true, debounceTimeout: 30 } });
    const seen: number[] = [];
    reset.watch((l) => seen.push(l));
    const fire = made[0]!.fake.callbacks[0]!;
    fire(null, 1);
    fire(null, 1);
    fire(null, 0);
    expect(seen).toEqual([1, 0]);
    expect(reset.read()).toBe(0);
  });

  it('refuses a second claim in the same process and releases on close', () => {
    const { made, Gpio } = fakeOnoff();
    const chip = new OnoffGpioChip(Gpio);
    const led = chip.openOutput('ledBlue', 110);
    expect(() => chip.openOutput('other', 110)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    led.write(1);
    led.close();
    expect(made[0]!.fake.writes).toEqual([1, 0]);
    expect(made[0]!.fake.unexported).toBe(true);
    expect(() => led.write(1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    chip.openOutput('other', 110);
  });

  it('maps open errors to messages that name the line', () => {
    const { Gpio } = fakeOnoff({ 113: 'EBUSY', 114: 'EACCES', 999: 'EINVAL' });
    const chip = new OnoffGpioChip(Gpio);
    expect(() => chip.openOutput('strobeRed', 113)).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/^GPIO line 113 \(strobeRed\) is busy: claimed by a kernel driver/) }));
    expect(() => chip.openOutput('strobeBlue', 114)).toThrow(/GPIO line 114 \(strobeBlue\) permission denied/);
    expect(() => chip.openOutput('x', 999)).toThrow(/not a valid sysfs GPIO number/);
    expect(gpioOpenError('siren', 1, Object.assign(new Error('x'), { code: 'ENOENT' })).message).toMatch(/CONFIG_GPIO_SYSFS/);
    expect(gpioOpenError('siren', 1, new Error('weird')).message).toBe('GPIO line 1 (siren) failed to open: weird');
  });
});
