import type { Logger } from 'pino';
import { z } from 'zod';
import type { LedColor, StatusLed } from '../../drivers/devices/types.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import { NoArgs } from '../control/commands.js';
import type { Context, Service } from '../supervisor/service.js';
import { activeConditions, ledPattern, type LedPattern } from './policy.js';

declare module '../state/store.js' {
  interface CamState {
    led?: LedPattern & { override?: boolean };
  }
}

/**
 * Shows `ledPattern(state)` on the status LED. Blink edges are scheduled at absolute times from
 * the pattern's start, so the rate does not drift however late a timer fires.
 */
export class IndicatorService implements Service {
  readonly name = 'indicator';
  private current: LedPattern | undefined;
  private override: LedPattern | undefined;
  private timer: TimerHandle | undefined;
  private overrideTimer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
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
    this.unsubscribe = this.ctx.state.subscribe(() => this.refresh());
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
          seconds: z.number().min(1).max(300).default(10),
        })
        .strict(),
      handler: ({ color, mode, seconds }) => {
        if (!this.led) throw new CamdError('unavailable', 'status LED is not available (failed to open)');
        this.override = { state: 'off', color, mode: color === 'off' ? 'off' : mode, reason: 'LED test' };
        this.refresh();
        this.clock.clearTimeout(this.overrideTimer);
        this.overrideTimer = this.clock.setTimeout(() => {
          this.override = undefined;
          this.refresh();
        }, seconds * 1000);
        return { color, mode, seconds };
      },
    });
    this.refresh();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.overrideTimer);
    this.timer = undefined;
    this.led?.set('off');
  }

  private refresh(): void {
    const state = this.ctx.state.get();
    const next = this.override ?? ledPattern(state, this.ctx.config.get().indicator.enabled);
    const cur = this.current;
    if (cur && cur.color === next.color && cur.mode === next.mode) {
      // Same look: keep the blink phase, only update the reason shown to camctl.
      if (cur.reason !== next.reason || cur.state !== next.state) this.publish(next);
      return;
    }
    this.current = next;
    this.publish(next);
    this.log.info({ led: next.state, color: next.color, mode: next.mode, reason: next.reason }, 'LED pattern');
    this.show(next);
  }

  private publish(p: LedPattern): void {
    this.current = p;
    this.ctx.state.set('led', this.override ? { ...p, override: true } : p);
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
