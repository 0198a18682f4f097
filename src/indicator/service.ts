import type { Logger } from 'pino';
import { z } from 'zod';
import type { LedColor, StatusLed } from '../../drivers/devices/types.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import { NoArgs } from '../commands/registry.js';
import type { CamState } from '../state/store.js';
import type { Context, Service } from '../supervisor/service.js';
import { activeConditions, ledPattern, type LedPattern, type LedTest } from './policy.js';

declare module '../state/store.js' {
  interface CamState {
    /** `override` and `testUntil` while an LED test shows. */
    led?: LedPattern & { override?: boolean; testUntil?: number };
  }
}

/** The longest LED test; a new test replaces the running one, so tests never add up. */
export const LED_TEST_MAX_SECONDS = 300;

/**
 * Shows `ledPattern(state, indicator.enabled, test)` on the status LED. Blink edges are scheduled
 * at absolute times from the pattern's start, so the rate does not drift however late a timer
 * fires.
 *
 * `led.test` is bounded (1..300 s) and does not stack: a new test replaces the running one and
 * ends `seconds` after the new call, with one timer. While someone watches live it is refused
 * (`forbidden`): the solid blue is the one sign people in front of the camera get, and a test
 * that could only show solid blue would test nothing. A live view that begins during a test ends
 * the test at once (the policy would hide it anyway; ending it means it does not come back).
 */
export class IndicatorService implements Service {
  readonly name = 'indicator';
  private current: LedPattern | undefined;
  private test: (LedTest & { until: number }) | undefined;
  private timer: TimerHandle | undefined;
  private testTimer: TimerHandle | undefined;
  private readonly unsubscribers: (() => void)[] = [];
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('indicator');
    this.clock = ctx.clock;
  }

  private get led(): StatusLed | undefined {
    return this.ctx.hardware.parts.statusLed;
  }

  async start(): Promise<void> {
    this.unsubscribers.push(
      this.ctx.state.subscribe(this, () => this.refresh()),
      this.ctx.config.onChange(this, (_cfg, paths) => {
        if (paths.some((p) => p.startsWith('indicator.'))) this.refresh();
      }),
    );
    this.ctx.commands.register(this, {
      name: 'led.get',
      access: 'cloud',
      summary: 'what the LED shows and why, with every condition that holds',
      args: NoArgs,
      handler: () => ({ ...this.ctx.state.get().led, conditions: activeConditions(this.ctx.state.get()) }),
    });
    this.ctx.commands.register(this, {
      name: 'led.test',
      access: 'cloud',
      summary: 'show a colour and mode for a while (LED test), then return to the state',
      args: z
        .object({
          color: z.enum(['red', 'blue', 'off']),
          mode: z.enum(['solid', 'slow', 'fast']).default('solid'),
          seconds: z.number().min(1).max(LED_TEST_MAX_SECONDS).default(10),
        })
        .strict(),
      handler: ({ color, mode, seconds }, meta) => {
        if (!this.led) throw new CamdError('unavailable', 'status LED is not available (failed to open)');
        const watching = activeConditions(this.ctx.state.get())['live-view'];
        if (watching !== undefined) {
          throw new CamdError('forbidden', `led.test: refused while someone watches live (${watching}): the solid blue LED is the sign that someone is watching and nothing may hide it; try again when the live view has ended`);
        }
        const until = this.clock.now() + seconds * 1000;
        const replaced = this.test !== undefined;
        this.test = { color, mode, until };
        this.clock.clearTimeout(this.testTimer);
        this.testTimer = this.clock.setTimeout(() => this.endTest('timeout'), seconds * 1000);
        this.log.info({ color, mode, seconds, until, replaced, source: meta.source }, 'LED test');
        this.refresh();
        return { color, mode, seconds, until, replaced };
      },
    });
    this.refresh();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribers.splice(0)) u();
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.testTimer);
    this.timer = undefined;
    this.testTimer = undefined;
    this.test = undefined;
    this.led?.set('off');
  }

  private endTest(why: 'timeout' | 'live view'): void {
    if (!this.test) return;
    this.test = undefined;
    this.clock.clearTimeout(this.testTimer);
    this.testTimer = undefined;
    this.log.info({ why }, 'LED test ended');
    this.refresh();
  }

  private refresh(): void {
    const state = this.ctx.state.get();
    if (this.test && activeConditions(state)['live-view'] !== undefined) return this.endTest('live view');
    const next = ledPattern(state, this.ctx.config.get().indicator.enabled, this.test);
    const cur = this.current;
    this.current = next;
    this.publish(next);
    // Same look: keep the blink phase (only the reason shown to camctl changed).
    if (cur && cur.color === next.color && cur.mode === next.mode) return;
    this.log.info({ led: next.state, color: next.color, mode: next.mode, reason: next.reason }, 'LED pattern');
    this.show(next);
  }

  /** The state slice; written only when it changes (the store notifies on every write). */
  private publish(p: LedPattern): void {
    const slice: NonNullable<CamState['led']> = this.test ? { ...p, override: true, testUntil: this.test.until } : p;
    const prev = this.ctx.state.get().led;
    if (prev && JSON.stringify(prev) === JSON.stringify(slice)) return;
    this.ctx.state.set('led', slice);
  }

  private show(p: LedPattern): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const led = this.led;
    if (!led) return;
    if (p.mode === 'off' || p.color === 'off') return led.set('off');
    if (p.mode === 'solid') return led.set(p.color);
    const { slowPeriodMs, fastPeriodMs, dutyCycle } = this.ctx.board.led;
    const period = p.mode === 'slow' ? slowPeriodMs : fastPeriodMs;
    const onMs = Math.round(period * dutyCycle);
    const start = this.clock.now();
    const color: LedColor = p.color;
    let k = 0;
    // Edge k: even = on at start + (k/2)*period, odd = off at that + onMs.
    const edgeAt = (i: number): number => start + Math.floor(i / 2) * period + (i % 2 === 1 ? onMs : 0);
    const step = (): void => {
      led.set(k % 2 === 0 ? color : 'off');
      k++;
      this.timer = this.clock.setTimeout(step, Math.max(0, edgeAt(k) - this.clock.now()));
    };
    step();
  }
}

export const indicatorService = (ctx: Context): Service => new IndicatorService(ctx);
