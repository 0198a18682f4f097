import type { Clock } from '../../clock.js';
import { BH1750 } from '../../devices/light-sensor.js';
import type { I2cDeviceModel } from '../sim.js';

type Resolution = 'H' | 'H2' | 'L';

/**
 * The scene without a `lux` option: daylight. The sim lenses play daytime clips, so a sim board
 * whose sensor read 0 lx would boot the daemon into night mode (monochrome frames) every time.
 */
const SIM_DAYLIGHT_LUX = 400;

/**
 * Model of the ROHM BH1750 ambient light sensor. The test sets the scene with `setLux`; a
 * measurement takes its datasheet time on the injected clock, and until the first one is done
 * the data register holds 0, as after power-on. Measurement-time changes (MTreg) scale the
 * count as on the part. A measurement instruction from power-down powers the part on.
 */
export class Bh1750Model implements I2cDeviceModel {
  private scene: number;
  private curve: ((t: number) => number) | undefined;
  private powered = false;
  private mode: { res: Resolution; continuous: boolean; startedAt: number } | undefined;
  private data = 0;
  private mtreg: number = BH1750.MTREG_DEFAULT;

  constructor(
    private readonly clock: Clock,
    opts: { lux?: number } = {},
  ) {
    this.scene = opts.lux ?? SIM_DAYLIGHT_LUX;
  }

  setLux(lux: number): void {
    if (!(lux >= 0)) throw new RangeError(`scene lux must be ≥ 0, got ${lux}`);
    this.scene = lux;
    this.curve = undefined;
  }

  /**
   * Scripts the scene as lux over clock time (a dusk ramp, headlights, the board's own lights on
   * top), read at each measurement: a test sets one curve instead of racing `setLux` against the
   * daemon's sampling timer. `setLux` ends it. Negative or NaN values read as 0 lx.
   */
  setLuxCurve(curve: (t: number) => number): void {
    this.curve = curve;
  }

  lux(): number {
    if (!this.curve) return this.scene;
    const v = this.curve(this.clock.now());
    return v >= 0 ? v : 0;
  }

  isPowered(): boolean {
    return this.powered;
  }

  write(bytes: Uint8Array): void {
    for (const op of bytes) this.instruction(op);
  }

  read(length: number): Uint8Array {
    this.settle();
    const out = new Uint8Array(length).fill(0xff);
    out[0] = this.data >> 8;
    if (length > 1) out[1] = this.data & 0xff;
    return out;
  }

  private instruction(op: number): void {
    this.settle();
    if (op === BH1750.POWER_DOWN) {
      this.powered = false;
      this.mode = undefined;
    } else if (op === BH1750.POWER_ON) {
      this.powered = true;
    } else if (op === BH1750.RESET) {
      // Reset only clears the data register, and only while powered on.
      if (this.powered) this.data = 0;
    } else if ((op & 0xf8) === 0x40) {
      this.mtreg = (this.mtreg & 0x1f) | ((op & 0x07) << 5);
    } else if ((op & 0xe0) === 0x60) {
      this.mtreg = (this.mtreg & 0xe0) | (op & 0x1f);
    } else {
      const res = measurementOf(op);
      if (!res) return; // undefined opcodes are ignored by the part
      this.powered = true;
      this.mode = { res: res.res, continuous: res.continuous, startedAt: this.clock.now() };
    }
  }

  /** Brings the data register up to date with the clock (lazily: the model has no timers). */
  private settle(): void {
    if (!this.mode) return;
    const base = this.mode.res === 'L' ? BH1750.L_RES_MS : BH1750.H_RES_MS;
    const measureMs = (base * this.mtreg) / BH1750.MTREG_DEFAULT;
    if (this.clock.now() - this.mode.startedAt < measureMs) return;
    this.data = this.count(this.mode.res);
    if (!this.mode.continuous) {
      // One-time modes power down after the measurement.
      this.mode = undefined;
      this.powered = false;
    }
  }

  private count(res: Resolution): number {
    const scaled = this.lux() * BH1750.COUNTS_PER_LUX * (this.mtreg / BH1750.MTREG_DEFAULT);
    const raw = res === 'H2' ? scaled * 2 : res === 'L' ? Math.floor(scaled / 4) * 4 : scaled;
    return Math.min(0xffff, Math.round(raw));
  }
}

function measurementOf(op: number): { res: Resolution; continuous: boolean } | undefined {
  switch (op) {
    case BH1750.CONTINUOUS_H: return { res: 'H', continuous: true };
    case BH1750.CONTINUOUS_H2: return { res: 'H2', continuous: true };
    case BH1750.CONTINUOUS_L: return { res: 'L', continuous: true };
    case BH1750.ONE_TIME_H: return { res: 'H', continuous: false };
    case BH1750.ONE_TIME_H2: return { res: 'H2', continuous: false };
    case BH1750.ONE_TIME_L: return { res: 'L', continuous: false };
    default: return undefined;
  }
}
