import { sleep, type Clock } from '../clock.js';
import type { DigitalOut } from '../gpio/types.js';
import type { IrCut } from './types.js';

export const IR_CUT_PULSE_MS = 100;

/**
 * The IR-cut filter: a bistable solenoid behind an H-bridge with one input per direction. A short
 * pulse on one input moves the filter, which then stays put unpowered; holding the coil
 * energised would overheat it, and driving both inputs would brake the bridge. So each change is
 * one pulse on one line, with the other held low, timed on the injected clock, and changes are
 * serialised. The filter position is not sensed: `get()` is the last position commanded.
 */
export class PulsedIrCut implements IrCut {
  private mode: 'day' | 'night' | 'unknown' = 'unknown';
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly day: DigitalOut,
    private readonly night: DigitalOut,
    private readonly clock: Clock,
    private readonly pulseMs = IR_CUT_PULSE_MS,
  ) {
    day.write(0);
    night.write(0);
  }

  set(mode: 'day' | 'night'): Promise<void> {
    const run = this.chain.then(() => this.pulse(mode));
    this.chain = run.catch(() => undefined);
    return run;
  }

  get(): 'day' | 'night' | 'unknown' {
    return this.mode;
  }

  private async pulse(mode: 'day' | 'night'): Promise<void> {
    const [on, off] = mode === 'day' ? [this.day, this.night] : [this.night, this.day];
    off.write(0);
    on.write(1);
    try {
      await sleep(this.clock, this.pulseMs);
    } finally {
      on.write(0);
    }
    this.mode = mode;
  }
}
