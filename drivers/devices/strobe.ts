import type { DigitalOut } from '../gpio/types.js';
import { LineSwitch } from './on-off.js';
import type { Strobe } from './types.js';

/**
 * A strobe light: the module flashes by itself while powered, so the line only switches it on or
 * off; the flash rate is the module's, not the daemon's.
 */
export function openStrobe(out: DigitalOut): Strobe {
  return new LineSwitch(out);
}
