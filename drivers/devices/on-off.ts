import type { DigitalOut } from '../gpio/types.js';
import type { OnOffPart } from './types.js';

/** A part switched by one line (through a MOSFET or relay); its state is the line's. */
export class LineSwitch implements OnOffPart {
  constructor(private readonly out: DigitalOut) {}

  set(on: boolean): void {
    this.out.write(on ? 1 : 0);
  }

  isOn(): boolean {
    return this.out.read() === 1;
  }
}
