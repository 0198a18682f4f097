import type { DigitalOut } from '../gpio/types.js';
import type { LedColor, StatusLed } from './types.js';

/**
 * The bicolour status LED on two lines. Red and blue together would read as a third colour the
 * manual does not define, so a change always turns the lit line off before lighting the other.
 */
export class TwoLineStatusLed implements StatusLed {
  constructor(
    private readonly red: DigitalOut,
    private readonly blue: DigitalOut,
  ) {
    red.write(0);
    blue.write(0);
  }

  set(color: LedColor): void {
    if (color !== 'red') this.red.write(0);
    if (color !== 'blue') this.blue.write(0);
    if (color === 'red') this.red.write(1);
    else if (color === 'blue') this.blue.write(1);
  }

  get(): LedColor {
    if (this.red.read() === 1) return 'red';
    if (this.blue.read() === 1) return 'blue';
    return 'off';
  }
}
