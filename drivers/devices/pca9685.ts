import { HardwareError } from '../errors.js';
import type { I2cBus } from '../i2c/types.js';

/**
 * Host-side driver for the NXP PCA9685 16-channel 12-bit PWM controller (register map from the
 * datasheet, rev. 4). The sim model in drivers/i2c/models/pca9685.ts answers the same registers.
 */
export const PCA9685 = {
  MODE1: 0x00,
  MODE2: 0x01,
  LED0_ON_L: 0x06,
  ALL_LED_ON_L: 0xfa,
  PRE_SCALE: 0xfe,
  MODE1_RESTART: 0x80,
  MODE1_AI: 0x20,
  MODE1_SLEEP: 0x10,
  MODE1_ALLCALL: 0x01,
  MODE2_INVRT: 0x10,
  MODE2_OUTDRV: 0x04,
  /** Bit 4 of LEDn_ON_H (full on) and LEDn_OFF_H (full off; wins over full on). */
  FULL: 0x10,
  OSC_HZ: 25_000_000,
  STEPS: 4096,
  PRESCALE_MIN: 3,
} as const;

export function ledRegister(channel: number): number {
  return PCA9685.LED0_ON_L + 4 * channel;
}

/** PRE_SCALE for a frequency: round(osc / (4096 * f)) - 1, within the chip's 3..255. */
export function prescaleFor(frequencyHz: number): number {
  const p = Math.round(PCA9685.OSC_HZ / (PCA9685.STEPS * frequencyHz)) - 1;
  return Math.min(0xff, Math.max(PCA9685.PRESCALE_MIN, p));
}

export function frequencyFor(prescale: number): number {
  return PCA9685.OSC_HZ / (PCA9685.STEPS * (prescale + 1));
}

export class Pca9685 {
  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
  ) {}

  /**
   * Sets the PWM frequency and wakes the chip with register auto-increment. PRE_SCALE is only
   * writable while the oscillator sleeps, hence sleep → prescale → wake. The frequency is one
   * for the whole chip: every part on it shares it. No RESTART is written, because each caller
   * reprograms its own channel right after; that also avoids the datasheet's 500 µs wait.
   */
  async init(frequencyHz: number): Promise<void> {
    const mode1 = await this.bus.readByte(this.address, PCA9685.MODE1);
    const asleep = (mode1 & ~PCA9685.MODE1_RESTART) | PCA9685.MODE1_SLEEP;
    await this.bus.writeByte(this.address, PCA9685.MODE1, asleep);
    await this.bus.writeByte(this.address, PCA9685.PRE_SCALE, prescaleFor(frequencyHz));
    await this.bus.writeByte(this.address, PCA9685.MODE1, (asleep & ~PCA9685.MODE1_SLEEP) | PCA9685.MODE1_AI);
  }

  /** Duty 0..1 on one channel: 0 and 1 use the full-off/full-on bits (no glitch pulse). */
  async setDuty(channel: number, duty: number): Promise<void> {
    if (!Number.isInteger(channel) || channel < 0 || channel > 15) throw new HardwareError('EINVAL', `PCA9685 channel ${channel} out of range 0..15`);
    if (!(duty >= 0 && duty <= 1)) throw new HardwareError('EINVAL', `PCA9685 duty ${duty} out of range 0..1`);
    const off = Math.round(duty * PCA9685.STEPS);
    let bytes: number[];
    if (off <= 0) bytes = [0, 0, 0, PCA9685.FULL];
    else if (off >= PCA9685.STEPS) bytes = [0, PCA9685.FULL, 0, 0];
    else bytes = [0, 0, off & 0xff, off >> 8];
    // One auto-incremented block write: the four registers change together.
    await this.bus.writeBlock(this.address, ledRegister(channel), Uint8Array.from(bytes));
  }
}
