import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { TimerHandle } from '../core/clock.js';
import { ResetPress } from './press.js';
import { ConfirmationTokens } from '../commands/confirm.js';
import type { Context, Service } from '../supervisor/service.js';

/**
 * The RESET button and the factory reset it triggers.
 *
 * - Held ≥ board.reset.holdMs (5 s) while running → factory reset, then reboot. It fires when
 *   the hold time is reached, not on release, so the owner knows when to let go.
 * - Shorter presses change nothing but open the **presence window** (state.presence.until,
 *   PRESENCE_WINDOW_MS): for that long the cloud may use `presence`-class commands (re-provision a
 *   bound camera, factory reset), since someone is evidently at the camera. It closes early on a
 *   factory reset and is never opened by a press held at boot.
 * - A button already held when the daemon starts is ignored until released: a stuck button or
 *   one held through power-on must not wipe the camera on every boot.
 * The same reset by command (`factory-reset`, presence class) takes a confirmation token.
 */
/** How long a short RESET press counts as physical presence (time to climb down and use the app). */
export const PRESENCE_WINDOW_MS = 5 * 60_000;

export class ResetService implements Service {
  readonly name = 'reset';
  private holdTimer: TimerHandle | undefined;
  private unwatch: (() => void) | undefined;
  private press: ResetPress;
  private readonly tokens: ConfirmationTokens;
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('reset');
    this.tokens = new ConfirmationTokens(ctx.clock);
    this.press = new ResetPress(ctx.board.reset.holdMs, false);
  }

  async start(): Promise<void> {
    const button = this.ctx.hardware.parts.resetButton;
    if (button) {
      this.press = new ResetPress(this.ctx.board.reset.holdMs, button.isPressed());
      if (this.press.ignoring) this.log.warn('reset button held at start: ignored until released');
      this.unwatch = button.onChange((pressed) => this.onButton(pressed));
    }
    this.ctx.commands.register(this, {
      name: 'factory-reset',
      // Erases the owner's binding and Wi-Fi: the trust model keeps that from a cloud caller alone.
      access: 'presence',
      summary: 'erase every setting and credential, then reboot; call once for a token, again with it',
      args: z.object({ confirm: z.string().optional() }).strict(),
      handler: async ({ confirm }) => {
        this.tokens.check(confirm, 'factory reset erases all settings and credentials');
        // Answer first, then reset: the reply must leave before the links go down.
        this.ctx.clock.setTimeout(() => void this.factoryReset('command'), 50);
        return { resetting: true };
      },
    });
    this.ctx.commands.register(this, {
      name: 'reboot',
      access: 'cloud',
      summary: 'restart the camera (settings are kept)',
      args: z.object({}).strict(),
      handler: () => {
        this.ctx.clock.setTimeout(() => this.ctx.lifecycle.requestReboot('reboot command'), 50);
        return { rebooting: true };
      },
    });
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.ctx.clock.clearTimeout(this.holdTimer);
  }

  private onButton(pressed: boolean): void {
    const now = this.ctx.clock.now();
    const d = pressed ? this.press.press(now) : this.press.release(now);
    if (d.kind === 'ignored') return;
    if (d.kind === 'pressed') {
      this.ctx.bus.emit('button.changed', { button: 'reset', pressed: true });
      this.holdTimer = this.ctx.clock.setTimeout(() => void this.factoryReset('button'), d.armHoldMs);
      return;
    }
    this.ctx.clock.clearTimeout(this.holdTimer);
    const heldMs = d.heldMs;
    this.ctx.bus.emit('button.changed', { button: 'reset', pressed: false, heldMs });
    if (d.kind === 'short-press') {
      const until = now + PRESENCE_WINDOW_MS;
      this.ctx.state.set('presence', { until });
      this.log.info({ heldMs, presenceUntil: until }, 'reset button: short press; presence window open');
      this.emitEvent('reset.short-press', { heldMs, presenceUntil: until });
    }
  }

  private async factoryReset(source: 'button' | 'command'): Promise<void> {
    if (!this.press.beginReset()) return;
    this.ctx.state.set('presence', { until: null });
    this.emitEvent('reset.factory', { source });
    const result = await this.ctx.factoryReset.run(source);
    this.log.warn({ source, ...result }, 'factory reset done; rebooting');
    this.ctx.lifecycle.requestReboot(`factory reset (${source})`);
  }

  private emitEvent(type: string, data: Record<string, unknown>): void {
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind: 'button', type, data });
  }
}

export const resetService = (ctx: Context): Service => new ResetService(ctx);
