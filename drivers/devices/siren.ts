import type { DigitalOut } from '../gpio/types.js';
import { LineSwitch } from './on-off.js';
import type { Siren } from './types.js';

/** The siren: a self-oscillating piezo module behind a MOSFET; the line powers it. */
export function openSiren(out: DigitalOut): Siren {
  return new LineSwitch(out);
}
