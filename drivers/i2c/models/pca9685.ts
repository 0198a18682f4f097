import { frequencyFor, ledRegister, PCA9685 } from '../../devices/pca9685.js';
import type { I2cDeviceModel } from '../sim.js';

const LAST_LED_REGISTER = 0x45;
const ALL_LED_OFF_H = 0xfd;

/**
 * Register-level model of the PCA9685 PWM controller: MODE1/MODE2, the 16 LEDn_ON/OFF register
 * quads with the full-on/full-off bits, ALL_LED, and PRE_SCALE (which, as on the chip, ignores
 * writes unless MODE1.SLEEP is set and never goes below 3). Auto-increment follows MODE1.AI and
 * the datasheet's roll-overs (0x45 → 0x00, 0xFE → 0x00). Not modelled: sub-addresses and
 * ALLCALL as separate bus addresses, OE pin, EXTCLK, the 500 µs oscillator start-up.
 */
export class Pca9685Model implements I2cDeviceModel {
  private readonly regs = new Uint8Array(256);
  private pointer = 0;

  constructor() {
    this.reset();
  }

  /** Power-on reset values (datasheet table 4). */
  reset(): void {
    this.regs.fill(0);
    this.regs[PCA9685.MODE1] = PCA9685.MODE1_SLEEP | PCA9685.MODE1_ALLCALL;
    this.regs[PCA9685.MODE2] = PCA9685.MODE2_OUTDRV;
    this.regs.set([0xe2, 0xe4, 0xe8, 0xe0], 0x02);
    for (let ch = 0; ch < 16; ch++) this.regs[ledRegister(ch) + 3] = PCA9685.FULL;
    this.regs[PCA9685.PRE_SCALE] = 0x1e;
    this.pointer = 0;
  }

  write(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.pointer = bytes[0]!;
    for (const b of bytes.subarray(1)) {
      this.store(this.pointer, b);
      this.advance();
    }
  }

  read(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      out[i] = this.load(this.pointer);
      this.advance();
    }
    return out;
  }

  register(reg: number): number {
    return this.regs[reg & 0xff]!;
  }

  sleeping(): boolean {
    return (this.regs[PCA9685.MODE1]! & PCA9685.MODE1_SLEEP) !== 0;
  }

  prescale(): number {
    return this.regs[PCA9685.PRE_SCALE]!;
  }

  frequencyHz(): number {
    return frequencyFor(this.prescale());
  }

  /** Fraction of each period the output is high (after MODE2.INVRT); 0 while asleep. */
  dutyCycle(channel: number): number {
    if (this.sleeping()) return 0;
    const base = ledRegister(channel);
    const onH = this.regs[base + 1]!;
    const offH = this.regs[base + 3]!;
    let duty: number;
    if (offH & PCA9685.FULL) duty = 0;
    else if (onH & PCA9685.FULL) duty = 1;
    else {
      const on = this.regs[base]! | ((onH & 0x0f) << 8);
      const off = this.regs[base + 2]! | ((offH & 0x0f) << 8);
      duty = (((off - on) % PCA9685.STEPS) + PCA9685.STEPS) % PCA9685.STEPS / PCA9685.STEPS;
    }
    return this.regs[PCA9685.MODE2]! & PCA9685.MODE2_INVRT ? 1 - duty : duty;
  }

  private store(reg: number, value: number): void {
    if (reg === PCA9685.MODE1) {
      const old = this.regs[reg]!;
      // RESTART is cleared by writing 1 to it; it is set by the chip, not by a write.
      let next = (value & ~PCA9685.MODE1_RESTART) | (old & PCA9685.MODE1_RESTART);
      if (value & PCA9685.MODE1_RESTART) next &= ~PCA9685.MODE1_RESTART;
      // Going to sleep with PWM running arms RESTART, as on the chip.
      if (!(old & PCA9685.MODE1_SLEEP) && next & PCA9685.MODE1_SLEEP && this.anyActive()) next |= PCA9685.MODE1_RESTART;
      this.regs[reg] = next;
    } else if (reg === PCA9685.PRE_SCALE) {
      if (this.sleeping()) this.regs[reg] = Math.max(PCA9685.PRESCALE_MIN, value);
    } else if (reg >= PCA9685.ALL_LED_ON_L && reg <= ALL_LED_OFF_H) {
      const offset = reg - PCA9685.ALL_LED_ON_L;
      for (let ch = 0; ch < 16; ch++) this.regs[ledRegister(ch) + offset] = value;
    } else if (reg <= LAST_LED_REGISTER) {
      this.regs[reg] = value;
    }
    // 0x46..0xF9 are reserved and 0xFF is the test mode register: writes are ignored here.
  }

  private load(reg: number): number {
    if (reg >= PCA9685.ALL_LED_ON_L && reg <= ALL_LED_OFF_H) return 0; // write-only
    if (reg > LAST_LED_REGISTER && reg !== PCA9685.PRE_SCALE) return 0;
    return this.regs[reg]!;
  }

  private advance(): void {
    if (!(this.regs[PCA9685.MODE1]! & PCA9685.MODE1_AI)) return;
    const p = this.pointer;
    this.pointer = p === LAST_LED_REGISTER || p >= PCA9685.PRE_SCALE ? 0 : p + 1;
  }

  private anyActive(): boolean {
    for (let ch = 0; ch < 16; ch++) if (!(this.regs[ledRegister(ch) + 3]! & PCA9685.FULL)) return true;
    return false;
  }
}
