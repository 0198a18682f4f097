import type { DigitalIn } from '../gpio/types.js';
import type { ResetButton } from './types.js';

/**
 * The recessed RESET button. Debouncing is the GPIO backend's (board inputs.reset.debounceMs);
 * what a long hold means is decided by the reset service, not here.
 */
export class GpioResetButton implements ResetButton {
  private readonly unwatch = new Set<() => void>();

  constructor(private readonly input: DigitalIn) {}

  isPressed(): boolean {
    return this.input.read() === 1;
  }

  onChange(listener: (pressed: boolean) => void): () => void {
    const off = this.input.watch((level) => listener(level === 1));
    this.unwatch.add(off);
    return () => {
      off();
      this.unwatch.delete(off);
    };
  }

  close(): void {
    for (const off of this.unwatch) off();
    this.unwatch.clear();
  }
}
