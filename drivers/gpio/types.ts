/**
 * GPIO, as small as the parts need it. Levels are *logical*: 1 = active (LED lit, button
 * pressed) whatever the line's polarity; the backend applies `activeLow`.
 */
export type Level = 0 | 1;

/** Pull resistor the kernel sets on the line (character-device backend only; sysfs has none). */
export type Bias = 'as-is' | 'disable' | 'pull-up' | 'pull-down';

export interface LineOptions {
  activeLow?: boolean;
  bias?: Bias;
  /** Character-device backend: the chip of this line when it is not the board's default. */
  chip?: string;
}

export interface OutputOptions extends LineOptions {
  /** Level driven from the moment the line is opened (outputs start inactive by default). */
  initial?: Level;
}

export interface InputOptions extends LineOptions {
  /** Changes shorter than this are ignored (contact bounce). */
  debounceMs?: number;
}

export interface DigitalOut {
  readonly name: string;
  readonly line: number;
  write(level: Level): void;
  read(): Level;
  /** Drives the line inactive and releases it. */
  close(): void;
}

export interface DigitalIn {
  readonly name: string;
  readonly line: number;
  read(): Level;
  /** Called on every debounced change; returns an unsubscribe function. */
  watch(listener: (level: Level) => void): () => void;
  close(): void;
}

export interface GpioChip {
  /** Throws with a clear message when the line cannot be opened (missing, busy, no permission). */
  openOutput(name: string, line: number, opts?: OutputOptions): DigitalOut;
  openInput(name: string, line: number, opts?: InputOptions): DigitalIn;
  close(): void;
}
