import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { SimI2cBus } from '../../../drivers/i2c/sim.js';
import { Pca9685Model } from '../../../drivers/i2c/models/pca9685.js';
import { Bh1750Model } from '../../../drivers/i2c/models/bh1750.js';
import { i2cError, I2cDevBus, type PromisifiedI2c } from '../../../drivers/i2c/i2c-bus.js';
import { Pca9685, prescaleFor } from '../../../drivers/devices/pca9685.js';
import { Bh1750LightSensor } from '../../../drivers/devices/light-sensor.js';
import { Timeline } from '../../../drivers/timeline.js';

describe('SimI2cBus', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('NACKs an address with no device (EREMOTEIO) and records every transfer', async () => {
    const tl = new Timeline(systemClock);
    const bus = new SimI2cBus('main', tl);
    bus.attach(0x40, new Pca9685Model());
    await expect(bus.readByte(0x41, 0)).rejects.toMatchObject({ code: 'EREMOTEIO', message: 'I2C bus main: no device acknowledged address 0x41' });
    await bus.writeByte(0x40, 0x06, 0x12);
    expect(await bus.readByte(0x40, 0x06)).toBe(0x12);
    expect(tl.entries()).toMatchObject([
      { kind: 'i2c', bus: 'main', address: 0x41, register: 0, dir: 'read', nack: true },
      { kind: 'i2c', address: 0x40, register: 0x06, bytes: [0x12], dir: 'write' },
      { kind: 'i2c', address: 0x40, register: 0x06, bytes: [0x12], dir: 'read' },
    ]);
    bus.detach(0x40);
    await expect(bus.writeByte(0x40, 0, 0)).rejects.toMatchObject({ code: 'EREMOTEIO' });
    await bus.close();
    await expect(bus.readByte(0x40, 0)).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('rejects arguments the hardware cannot carry', async () => {
    const bus = new SimI2cBus('main', new Timeline(systemClock));
    await expect(bus.writeByte(0x80, 0, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(bus.writeByte(0x40, 0, 256)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(bus.readBlock(0x40, 0, 33)).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('PCA9685 model', () => {
  const setup = () => {
    const bus = new SimI2cBus('main', new Timeline(systemClock));
    const model = new Pca9685Model();
    bus.attach(0x40, model);
    return { bus, model };
  };

  it('comes up asleep at 200 Hz with every channel full off', async () => {
    const { bus, model } = setup();
    expect(await bus.readByte(0x40, 0x00)).toBe(0x11);
    expect(await bus.readByte(0x40, 0x01)).toBe(0x04);
    expect(model.prescale()).toBe(0x1e);
    expect(model.dutyCycle(0)).toBe(0);
    expect(await bus.readByte(0x40, 0x09)).toBe(0x10);
  });

  it('takes PRE_SCALE only while asleep, never below 3', async () => {
    const { bus, model } = setup();
    await bus.writeByte(0x40, 0x00, 0x01); // awake
    await bus.writeByte(0x40, 0xfe, 5);
    expect(model.prescale()).toBe(0x1e);
    await bus.writeByte(0x40, 0x00, 0x11); // asleep
    await bus.writeByte(0x40, 0xfe, 1);
    expect(model.prescale()).toBe(3);
    await bus.writeByte(0x40, 0xfe, 5);
    expect(model.frequencyHz()).toBeCloseTo(1017.25, 1);
  });

  it('auto-increments only with MODE1.AI, and reads back through the pointer', async () => {
    const { bus, model } = setup();
    await bus.writeByte(0x40, 0x00, 0x01); // awake, AI off: all four bytes land in LED0_ON_L
    await bus.writeBlock(0x40, 0x06, Uint8Array.of(1, 2, 3, 4));
    expect([model.register(0x06), model.register(0x07), model.register(0x09)]).toEqual([4, 0, 0x10]);
    await bus.writeByte(0x40, 0x00, 0x21); // AI on
    // LED1: on at 0, off at 0x400 of 4096 → 25 %
    await bus.writeBlock(0x40, 0x0a, Uint8Array.of(0x00, 0x00, 0x00, 0x04));
    expect(model.dutyCycle(1)).toBe(0.25);
    expect([...(await bus.readBlock(0x40, 0x0a, 4))]).toEqual([0, 0, 0, 4]);
    // on/off phase shifted: on at 3000, off at 1000 → wraps: (1000 - 3000) mod 4096 = 2096
    await bus.writeBlock(0x40, 0x0a, Uint8Array.of(3000 & 0xff, 3000 >> 8, 1000 & 0xff, 1000 >> 8));
    expect(model.dutyCycle(1)).toBeCloseTo(2096 / 4096, 6);
  });

  it('honours full-on, full-off (which wins), ALL_LED, INVRT and sleep', async () => {
    const { bus, model } = setup();
    await bus.writeByte(0x40, 0x00, 0x21);
    await bus.writeBlock(0x40, 0x06 + 4 * 15, Uint8Array.of(0, 0x10, 0, 0));
    expect(model.dutyCycle(15)).toBe(1);
    await bus.writeByte(0x40, 0x06 + 4 * 15 + 3, 0x10);
    expect(model.dutyCycle(15)).toBe(0);
    await bus.writeBlock(0x40, 0xfa, Uint8Array.of(0, 0, 0x00, 0x08)); // all channels 50 %
    expect(model.dutyCycle(7)).toBe(0.5);
    expect(await bus.readByte(0x40, 0xfc)).toBe(0); // ALL_LED registers read as 0
    await bus.writeByte(0x40, 0x01, 0x14); // INVRT
    await bus.writeBlock(0x40, 0x06, Uint8Array.of(0, 0, 0x00, 0x04));
    expect(model.dutyCycle(0)).toBe(0.75);
    await bus.writeByte(0x40, 0x00, 0x31); // sleep with PWM running arms RESTART
    expect(model.dutyCycle(0)).toBe(0);
    expect((await bus.readByte(0x40, 0x00)) & 0x80).toBe(0x80);
    await bus.writeByte(0x40, 0x00, 0xa1); // wake and restart: writing 1 clears RESTART
    expect(await bus.readByte(0x40, 0x00)).toBe(0x21);
  });

  it('is driven by the host driver: frequency, then duty', async () => {
    const { bus, model } = setup();
    const chip = new Pca9685(bus, 0x40);
    await chip.init(1000);
    expect(model.prescale()).toBe(prescaleFor(1000));
    expect(prescaleFor(1000)).toBe(5);
    expect(model.sleeping()).toBe(false);
    await chip.setDuty(3, 0.4);
    expect(model.dutyCycle(3)).toBeCloseTo(0.4, 3);
    await chip.setDuty(3, 1);
    expect(model.dutyCycle(3)).toBe(1);
    await chip.setDuty(3, 0);
    expect(model.dutyCycle(3)).toBe(0);
    await expect(chip.setDuty(16, 0.5)).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('BH1750 model and light sensor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads the scene lux once a measurement is done (lux = raw / 1.2)', async () => {
    const tl = new Timeline(systemClock);
    const bus = new SimI2cBus('main', tl);
    const model = new Bh1750Model(systemClock, { lux: 250 });
    bus.attach(0x23, model);
    const sensor = await Bh1750LightSensor.open(bus, 0x23, systemClock);
    expect(tl.entries()).toMatchObject([
      { address: 0x23, register: null, bytes: [0x01], dir: 'write' },
      { address: 0x23, register: null, bytes: [0x10], dir: 'write' },
    ]);
    const first = sensor.readLux();
    await vi.advanceTimersByTimeAsync(180);
    expect(await first).toBe(250);
    model.setLux(3.5);
    expect(await sensor.readLux()).toBeCloseTo(Math.round(3.5 * 1.2) / 1.2, 6);
    model.setLux(100_000); // saturates at 65535 counts
    expect(await sensor.readLux()).toBeCloseTo(65535 / 1.2, 6);
    await sensor.close();
    expect(model.isPowered()).toBe(false);
  });

  it('returns 0 before the first measurement and supports one-time mode and MTreg', async () => {
    const bus = new SimI2cBus('main', new Timeline(systemClock));
    const model = new Bh1750Model(systemClock, { lux: 100 });
    bus.attach(0x23, model);
    await bus.sendBytes(0x23, Uint8Array.of(0x20)); // one-time H
    expect([...(await bus.receiveBytes(0x23, 2))]).toEqual([0, 0]);
    vi.advanceTimersByTime(120);
    expect([...(await bus.receiveBytes(0x23, 2))]).toEqual([0, 120]);
    expect(model.isPowered()).toBe(false);
    await bus.sendBytes(0x23, Uint8Array.of(0x01, 0x42, 0x7a, 0x10)); // MTreg = 0b010_11010 = 90... then continuous H
    vi.advanceTimersByTime(200);
    const b = await bus.receiveBytes(0x23, 2);
    expect((b[0]! << 8) | b[1]!).toBe(Math.round(100 * 1.2 * (0x5a / 69)));
  });

  it('fails to open with EREMOTEIO when the sensor is not on the bus', async () => {
    const bus = new SimI2cBus('main', new Timeline(systemClock));
    await expect(Bh1750LightSensor.open(bus, 0x23, systemClock)).rejects.toMatchObject({ code: 'EREMOTEIO' });
  });
});

describe('i2c-bus backend', () => {
  it('maps kernel errors to messages naming bus and address', async () => {
    const enxio = Object.assign(new Error('ENXIO, No such device or address'), { code: 'ENXIO' });
    const fake = { readByte: () => Promise.reject(enxio) } as unknown as PromisifiedI2c;
    const bus = new I2cDevBus('main', 1, fake);
    await expect(bus.readByte(0x40, 0)).rejects.toMatchObject({ code: 'EREMOTEIO', message: 'I2C bus main (/dev/i2c-1) address 0x40: no device acknowledged' });
    expect(i2cError('main', 1, 0x23, Object.assign(new Error('t'), { code: 'ETIMEDOUT' })).message).toMatch(/bus timeout/);
    expect(i2cError('main', 1, 0x23, Object.assign(new Error('t'), { code: 'ENOENT' })).message).toBe(
      'I2C bus main (/dev/i2c-1) address 0x23: /dev/i2c-1 missing (bus disabled in the device tree, or i2c-dev not loaded?)',
    );
  });

  it('passes block transfers through with buffers of the right length', async () => {
    const calls: unknown[] = [];
    const fake = {
      writeI2cBlock: async (a: number, c: number, n: number, b: Buffer) => (calls.push([a, c, n, [...b]]), { bytesWritten: n, buffer: b }),
      i2cRead: async (_a: number, n: number, b: Buffer) => (b.set([1, 2].slice(0, n)), { bytesRead: n, buffer: b }),
      readI2cBlock: async (_a: number, _c: number, _n: number, b: Buffer) => ({ bytesRead: 1, buffer: b }),
    } as unknown as PromisifiedI2c;
    const bus = new I2cDevBus('main', 1, fake);
    await bus.writeBlock(0x40, 0x06, Uint8Array.of(0, 0, 0x66, 0x06));
    expect(calls).toEqual([[0x40, 0x06, 4, [0, 0, 0x66, 0x06]]]);
    expect([...(await bus.receiveBytes(0x23, 2))]).toEqual([1, 2]);
    await expect(bus.readBlock(0x40, 0, 4)).rejects.toThrow(/returned 1 of 4 bytes/);
  });
});
