import { HardwareError } from '../errors.js';
import type { DigitalOut } from '../gpio/types.js';
import type { Pca9685 } from './pca9685.js';
import type { Spotlight } from './types.js';

/**
 * The white spotlight: a constant-current driver whose enable input is a GPIO line and whose dim
 * input is one PCA9685 channel. Off drops the enable line first, so the light goes dark even if
 * the I2C write after it fails; on sets the brightness first, so it never flashes at the old one.
 */
export class PwmSpotlight implements Spotlight {
  private on = false;
  private brightnessPct = 100;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly enable: DigitalOut,
    private readonly pwm: Pca9685,
    private readonly channel: number,
  ) {}

  /** Sets the chip's PWM frequency (board spotlightPwm.frequencyHz) and starts dark. */
  static async open(enable: DigitalOut, pwm: Pca9685, channel: number, frequencyHz: number): Promise<PwmSpotlight> {
    enable.write(0);
    await pwm.init(frequencyHz);
    await pwm.setDuty(channel, 0);
    return new PwmSpotlight(enable, pwm, channel);
  }

  set(on: boolean, brightnessPct?: number): Promise<void> {
    if (brightnessPct !== undefined && !(brightnessPct >= 1 && brightnessPct <= 100)) {
      return Promise.reject(new HardwareError('EINVAL', `spotlight brightness ${brightnessPct} % out of range 1..100`));
    }
    const run = this.chain.then(() => this.apply(on, brightnessPct ?? this.brightnessPct));
    this.chain = run.catch(() => undefined);
    return run;
  }

  state(): { on: boolean; brightnessPct: number } {
    return { on: this.on, brightnessPct: this.brightnessPct };
  }

  private async apply(on: boolean, pct: number): Promise<void> {
    this.brightnessPct = pct;
    if (on) {
      await this.pwm.setDuty(this.channel, pct / 100);
      this.enable.write(1);
      this.on = true;
    } else {
      this.enable.write(0);
      this.on = false;
      await this.pwm.setDuty(this.channel, 0);
    }
  }
}
