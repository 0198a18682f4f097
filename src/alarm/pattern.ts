import type { OnOffPart } from '../../drivers/devices/types.js';
import type { Clock, TimerHandle } from '../core/clock.js';

/**
 * A repeating on/off pattern over a few GPIO parts: the strobe alternation and the siren tones.
 *
 * Each step gives the level of every channel and how long it holds. Within a step, channels
 * that go off are switched before channels that go on, so two channels that alternate are never
 * on together, not even for the instant between two writes.
 */
export interface PatternStep<C extends string> {
  levels: Record<C, boolean>;
  ms: number;
}

export type Pattern<C extends string> = readonly PatternStep<C>[];

/**
 * Red/blue strobes: 150 ms red, then 150 ms blue, repeat (300 ms period, ≈3.3 flashes of each
 * colour per second). Never both on: the red line falls before the blue line rises and vice versa.
 * 3.3 Hz stays inside the 3–5 Hz band emergency-vehicle lighting uses, and well below the
 * flash rates photosensitivity guidance warns about for alternating saturated red.
 */
export const STROBE_PATTERN: Pattern<'red' | 'blue'> = [
  { levels: { red: true, blue: false }, ms: 150 },
  { levels: { red: false, blue: true }, ms: 150 },
];

export type Tone = 'siren' | 'beep' | 'chime';

/**
 * The siren part is a self-oscillating piezo siren on one GPIO line: its pitch is fixed, so a
 * "tone" is how the line is keyed.
 *  - siren: continuous (the loudest, the deterrent)
 *  - beep:  500 ms on / 500 ms off
 *  - chime: two short pips (150 ms on, 100 ms off, 150 ms on) then 600 ms quiet: a 1 s "ding-dong"
 */
export const TONE_PATTERNS: Record<Tone, Pattern<'siren'>> = {
  siren: [{ levels: { siren: true }, ms: 60_000 }],
  beep: [
    { levels: { siren: true }, ms: 500 },
    { levels: { siren: false }, ms: 500 },
  ],
  chime: [
    { levels: { siren: true }, ms: 150 },
    { levels: { siren: false }, ms: 100 },
    { levels: { siren: true }, ms: 150 },
    { levels: { siren: false }, ms: 600 },
  ],
};

/**
 * Plays a pattern until stopped. Steps are scheduled at absolute offsets from the start, so the
 * rhythm does not drift when a timer fires late. Missing parts (undefined) are skipped: the
 * strobe still flashes red when the blue strobe failed to open.
 */
export class PatternPlayer<C extends string> {
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly parts: Partial<Record<C, OnOffPart | undefined>>,
    private readonly onError: (err: unknown) => void,
  ) {}

  get playing(): boolean {
    return this.running;
  }

  start(pattern: Pattern<C>): void {
    this.stop();
    if (pattern.length === 0) return;
    this.running = true;
    const t0 = this.clock.now();
    let elapsed = 0;
    let i = 0;
    const step = (): void => {
      if (!this.running) return;
      const s = pattern[i % pattern.length]!;
      this.apply(s.levels);
      elapsed += s.ms;
      i++;
      this.timer = this.clock.setTimeout(step, Math.max(0, t0 + elapsed - this.clock.now()));
    };
    step();
  }

  /** Every channel off; safe to call when not playing. */
  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const part of Object.values<OnOffPart | undefined>(this.parts)) this.write(part, false);
  }

  private apply(levels: Record<C, boolean>): void {
    const entries = Object.entries(levels) as [C, boolean][];
    for (const [c, on] of entries) if (!on) this.write(this.parts[c], false);
    for (const [c, on] of entries) if (on) this.write(this.parts[c], true);
  }

  private write(part: OnOffPart | undefined, on: boolean): void {
    if (!part) return;
    try {
      if (part.isOn() !== on) part.set(on);
    } catch (err) {
      this.onError(err);
    }
  }
}
