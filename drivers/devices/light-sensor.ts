import { sleep, type Clock } from '../clock.js';
import type { I2cBus } from '../i2c/types.js';
import type { LightSensor } from './types.js';

/** BH1750 instructions (ROHM datasheet): the part has no registers, only one-byte opcodes. */
export const BH1750 = {
  POWER_DOWN: 0x00,
  POWER_ON: 0x01,
  RESET: 0x07,
  CONTINUOUS_H: 0x10,
  CONTINUOUS_H2: 0x11,
  CONTINUOUS_L: 0x13,
  ONE_TIME_H: 0x20,
  ONE_TIME_H2: 0x21,
  ONE_TIME_L: 0x23,
  /** H-resolution measurement time at the default MTreg: 120 ms typical, 180 ms maximum. */
  H_RES_MS: 120,
  H_RES_MAX_MS: 180,
  L_RES_MS: 16,
  MTREG_DEFAULT: 69,
  /** lux = count / 1.2 in H-resolution mode at the default MTreg. */
  COUNTS_PER_LUX: 1.2,
} as const;

/**
 * The BH1750 ambient light sensor in continuous H-resolution mode (1 lx steps, 0..54612 lx):
 * the day/night decision needs a steady reading, not speed. The first result is only valid
 * after one full measurement, so a read that early waits for it on the injected clock.
 */
export class Bh1750LightSensor implements LightSensor {
  private constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    private readonly clock: Clock,
    private readonly readyAt: number,
  ) {}

  static async open(bus: I2cBus, address: number, clock: Clock): Promise<Bh1750LightSensor> {
    await bus.sendBytes(address, Uint8Array.of(BH1750.POWER_ON));
    await bus.sendBytes(address, Uint8Array.of(BH1750.CONTINUOUS_H));
    return new Bh1750LightSensor(bus, address, clock, clock.now() + BH1750.H_RES_MAX_MS);
  }

  async readLux(): Promise<number> {
    const wait = this.readyAt - this.clock.now();
    if (wait > 0) await sleep(this.clock, wait);
    const b = await this.bus.receiveBytes(this.address, 2);
    return ((b[0]! << 8) | b[1]!) / BH1750.COUNTS_PER_LUX;
  }

  /** Powers the sensor down (a few µA instead of 120 µA); best effort at shutdown. */
  async close(): Promise<void> {
    await this.bus.sendBytes(this.address, Uint8Array.of(BH1750.POWER_DOWN));
  }
}
