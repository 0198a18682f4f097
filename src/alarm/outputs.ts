import type { Logger } from 'pino';
import type { OnOffPart, Parts } from '../../drivers/devices/types.js';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { EventBus } from '../state/bus.js';
import { PatternPlayer, STROBE_PATTERN, TONE_PATTERNS, type Tone } from './pattern.js';

/** The alarm's parts; a part that failed to open is simply absent and reported as missing. */
export const ALARM_PARTS = ['strobeRed', 'strobeBlue', 'siren', 'spotlight'] as const;
export type AlarmPart = (typeof ALARM_PARTS)[number];

export interface OutputsDeps {
  parts: Parts;
  clock: Clock;
  bus: EventBus;
  log: Logger;
  /** A spotlight write failed (fault) or worked again (null). */
  onSpotlightFault(message: string | null): void;
}

/**
 * Drives the strobes, the siren and the spotlight to what the alarm policy wants. Before the
 * strobes or the spotlight change, `lights.changing` goes out on the bus so the change detector
 * can ignore the light the camera itself makes (no light → detection → light loop). For the
 * strobes it is sent once when flashing starts and once when it stops, not per flash: the
 * detector ignores the whole flashing period.
 */
export class AlarmOutputs {
  private readonly strobes: PatternPlayer<'red' | 'blue'>;
  private readonly siren: PatternPlayer<'siren'>;
  private tone: Tone | undefined;
  /** Lines held steady by hand (only while not flashing). */
  private steady = { red: false, blue: false };
  private spotTarget = { on: false, brightness: 0 };
  private spotQueue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: OutputsDeps) {
    const onError = (err: unknown): void => deps.log.error({ err: errorMessage(err) }, 'alarm output write failed');
    this.strobes = new PatternPlayer(deps.clock, { red: deps.parts.strobeRed, blue: deps.parts.strobeBlue }, onError);
    this.siren = new PatternPlayer(deps.clock, { siren: deps.parts.siren }, onError);
  }

  missing(): AlarmPart[] {
    return ALARM_PARTS.filter((p) => !this.deps.parts[p]);
  }

  get strobing(): boolean {
    return (this.strobes.playing && !!(this.deps.parts.strobeRed || this.deps.parts.strobeBlue)) || this.steady.red || this.steady.blue;
  }

  get sounding(): boolean {
    return this.siren.playing && !!this.deps.parts.siren;
  }

  get spotlightOn(): boolean {
    return this.deps.parts.spotlight?.state().on ?? false;
  }

  get spotlightBrightness(): number | null {
    const s = this.deps.parts.spotlight?.state();
    return s?.on ? s.brightnessPct : null;
  }

  /**
   * `flash` = the alternating pattern; otherwise each line steady on or off (a hand test of one
   * line). Flashing wins over steady lines (it lights both in turn). `lights.changing` goes out
   * when the strobes go from dark to lit and back, not per flash or per line.
   */
  setStrobes(want: 'flash' | { red: boolean; blue: boolean }): void {
    const { strobeRed, strobeBlue } = this.deps.parts;
    const flash = want === 'flash';
    const steady = flash ? { red: false, blue: false } : { red: want.red && !!strobeRed, blue: want.blue && !!strobeBlue };
    if (flash === this.strobes.playing && steady.red === this.steady.red && steady.blue === this.steady.blue) return;
    const litBefore = this.strobes.playing || this.steady.red || this.steady.blue;
    const litAfter = flash || steady.red || steady.blue;
    if (litBefore !== litAfter && (strobeRed || strobeBlue)) this.lightsChanging('strobe', litAfter);
    this.steady = steady;
    if (flash) {
      this.strobes.start(STROBE_PATTERN);
      return;
    }
    // Off first, then on: the pattern's stop darkens both lines before a steady one lights.
    if (this.strobes.playing) this.strobes.stop();
    this.writeLine(strobeRed, steady.red);
    this.writeLine(strobeBlue, steady.blue);
  }

  setSiren(tone: Tone | null): void {
    if (tone === null) {
      this.siren.stop();
      this.tone = undefined;
      return;
    }
    if (this.siren.playing && this.tone === tone) return;
    this.tone = tone;
    this.siren.start(TONE_PATTERNS[tone]);
  }

  /**
   * Queues a spotlight change; changes apply one at a time in order (each is an I2C write plus a
   * GPIO edge). The returned promise rejects when this change failed; the queue goes on.
   */
  setSpotlight(on: boolean, brightness: number): Promise<void> {
    if (this.spotTarget.on === on && (!on || this.spotTarget.brightness === brightness)) return this.spotQueue;
    this.spotTarget = { on, brightness };
    const run = this.spotQueue.then(() => this.applySpotlight(on, brightness));
    this.spotQueue = run.catch(() => undefined);
    return run;
  }

  /** Forget the target after a failed change so the next request is tried again. */
  resetSpotlightTarget(): void {
    const s = this.deps.parts.spotlight?.state();
    this.spotTarget = { on: s?.on ?? false, brightness: s?.brightnessPct ?? 0 };
  }

  /** Waits for queued spotlight changes (shutdown, tests). */
  settled(): Promise<void> {
    return this.spotQueue;
  }

  /** Everything off, spotlight included; resolves when the spotlight write is done. */
  async allOff(): Promise<void> {
    this.setStrobes({ red: false, blue: false });
    this.setSiren(null);
    await this.setSpotlight(false, this.spotTarget.brightness).catch(() => undefined);
  }

  private async applySpotlight(on: boolean, brightness: number): Promise<void> {
    const part = this.deps.parts.spotlight;
    if (!part) return;
    const cur = part.state();
    if (cur.on === on && (!on || cur.brightnessPct === brightness)) return;
    this.lightsChanging('spotlight', on);
    try {
      await part.set(on, brightness);
      this.deps.onSpotlightFault(null);
    } catch (err) {
      this.deps.log.error({ err: errorMessage(err), on, brightness }, 'spotlight did not switch');
      this.deps.onSpotlightFault(`spotlight did not switch ${on ? 'on' : 'off'}: ${errorMessage(err)}`);
      throw err;
    }
  }

  private writeLine(part: OnOffPart | undefined, on: boolean): void {
    if (!part) return;
    try {
      if (part.isOn() !== on) part.set(on);
    } catch (err) {
      this.deps.log.error({ err: errorMessage(err) }, 'alarm output write failed');
    }
  }

  private lightsChanging(source: 'strobe' | 'spotlight', on: boolean): void {
    this.deps.bus.emit('lights.changing', { source, on, ts: this.deps.clock.now() });
  }
}
