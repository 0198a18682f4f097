import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { LightSource } from '../domain/lights.js';
import '../domain/lights.js'; // the `lights.changing` event this service sends and listens to
import { sleepGate, type SleepGate } from '../state/sleep-gate.js';
import type { Context, Service } from '../supervisor/service.js';
import { DayNightDecider, type Thresholds } from './decide.js';
import type { DayNightState, Phase, SwitchReason } from './types.js';
import './types.js';
import { setTimeout as realSleep } from 'node:timers/promises';

/** Longest a stop waits for a filter pulse in flight (a pulse is 100 ms). */
const PULSE_WAIT_MS = 1000;

/** Light sensor period: dusk takes tens of minutes; a BH1750 H-mode measurement takes 120 ms. */
export const SAMPLE_MS = 2000;
/**
 * After the camera's own spotlight or strobes go dark, readings stay ignored this long: the LED
 * driver ramps down (600 ms on the sim) and a reading integrates over 120–180 ms.
 */
const OWN_LIGHT_SETTLE_MS = 3000;
/** Consecutive failed readings before the sensor is reported as a fault (one glitch is not one). */
const READ_FAULTS = 3;
/** A failed filter pulse is retried after this, not on every sample (the coil may be the fault). */
const RETRY_MS = 60_000;

const SENSOR_FAULT = 'daynight.sensor';
const IRCUT_FAULT = 'daynight.ircut';

function thresholds(cfg: Config['daynight']): Thresholds {
  return { nightBelowLux: cfg.nightBelowLux, dayAboveLux: cfg.dayAboveLux, minDwellMs: cfg.minDwellSeconds * 1000 };
}

/**
 * Day/night from the light sensor: moves the IR-cut filter (and with it the image the lenses
 * give) when the scene gets dark or light again.
 *
 * - Every SAMPLE_MS on ctx.clock one lux reading goes to the decider (decide.ts: median,
 *   hysteresis, dwell). In `day`/`night` mode the readings are still published, not acted on.
 * - The camera's own light: while its spotlight or strobes are lit (a `lights.changing` from the
 *   alarm, or the spotlight part reporting on) and OWN_LIGHT_SETTLE_MS after, readings are
 *   dropped and the decider forgets its window, so the spotlight at night never reads as dawn.
 * - Before each switch `lights.changing {source:'ircut'}` goes out (on = night: the IR
 *   illuminator lights), so the change detector ignores the image change the camera causes.
 * - Sleep mode: no sampling, the filter stays where it is (nothing looks through the lens; a
 *   pulse would be a `lights.changing` no detector needs and wear on the coil). On waking, the
 *   first reading decides at once: the old phase is stale.
 */
export class DayNightService implements Service {
  readonly name = 'daynight';
  private readonly log: Logger;
  private decider!: DayNightDecider;
  private readonly sleep: SleepGate;
  private timer: TimerHandle | undefined;
  private readonly unsubs: (() => void)[] = [];
  /** The camera's own lights by source, as `lights.changing` last told. */
  private readonly ownLit = new Map<LightSource, boolean>();
  private blindUntil = -Infinity;
  /** The next reading decides without the dwell (boot, wake, back to auto). */
  private fresh: SwitchReason | undefined = 'boot';
  private sampling: Promise<void> | undefined;
  private switching: Promise<void> = Promise.resolve();
  private retryAt = -Infinity;
  private readFailures = 0;
  private stopped = false;
  private st: DayNightState;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('daynight');
    this.sleep = sleepGate(ctx);
    this.st = { mode: 'auto', current: 'unknown', lux: null, since: null, reason: null, blinded: false, paused: false };
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const cfg = ctx.config.get().daynight;
    this.decider = new DayNightDecider(thresholds(cfg));
    this.st = { ...this.st, mode: cfg.mode };
    const { irCut, lightSensor } = ctx.hardware.parts;
    if (!irCut) this.log.warn({ reason: ctx.hardware.failures.irCut }, 'no IR-cut filter: day/night only reports the light level');
    if (!lightSensor) this.log.warn({ reason: ctx.hardware.failures.lightSensor }, 'no light sensor: auto mode stays in day');

    ctx.bus.on(this, 'lights.changing', ({ source, on, ts }) => {
      if (source === 'ircut') return;
      this.ownLit.set(source, on);
      if (on) this.decider.forget();
      else this.blindUntil = Math.max(this.blindUntil, ts + OWN_LIGHT_SETTLE_MS);
    });
    this.unsubs.push(
      ctx.config.onChange(this, (c, paths) => {
        if (paths.some((p) => p.startsWith('daynight.'))) this.onSettings(c.daynight);
      }),
      this.sleep.onChange((asleep) => this.onSleep(asleep)),
    );
    if (this.sleep.asleep()) this.onSleep(true);
    else this.resume();
    this.publish();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubs.splice(0)) u();
    this.ctx.clock.clearInterval(this.timer);
    this.timer = undefined;
    // A reading in flight is not waited for (the sensor's first one waits up to 180 ms on the
    // clock): it sees `stopped` and drops its result. A filter pulse is: a coil left energised
    // when its line closes is exactly what the pulse API avoids. The filter is bistable, so
    // there is nothing else to release.
    // Bounded in real time, not on ctx.clock: a test's frozen fake clock must not hold a stop (the
    // pulse's own end runs on ctx.clock).
    await Promise.race([this.switching, realSleep(PULSE_WAIT_MS)]);
  }

  private onSettings(cfg: Config['daynight']): void {
    const modeChanged = cfg.mode !== this.st.mode;
    this.decider.setThresholds(thresholds(cfg));
    this.st = { ...this.st, mode: cfg.mode };
    this.log.info({ mode: cfg.mode, nightBelowLux: cfg.nightBelowLux, dayAboveLux: cfg.dayAboveLux, minDwellSeconds: cfg.minDwellSeconds }, 'day/night settings applied');
    if (modeChanged) {
      this.retryAt = -Infinity;
      if (cfg.mode === 'auto') this.fresh = 'mode';
      else if (!this.st.paused) this.switchTo(cfg.mode, 'forced', this.st.lux);
    }
    this.publish();
  }

  private onSleep(asleep: boolean): void {
    if (this.stopped) return;
    if (asleep) {
      this.ctx.clock.clearInterval(this.timer);
      this.timer = undefined;
      this.decider.forget();
      if (!this.st.paused) this.log.info('sleep mode: light sampling paused, IR-cut filter left as it is');
      this.st = { ...this.st, paused: true };
      this.publish();
    } else {
      if (this.st.paused) this.fresh ??= 'wake';
      this.st = { ...this.st, paused: false };
      this.resume();
      this.publish();
    }
  }

  private resume(): void {
    if (this.timer !== undefined) return;
    this.timer = this.ctx.clock.setInterval(() => this.tick(), SAMPLE_MS);
    this.tick();
  }

  private tick(): void {
    if (this.sampling || this.stopped) return;
    this.sampling = this.sample()
      .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'day/night sample failed'))
      .finally(() => {
        this.sampling = undefined;
      });
  }

  /** The camera's own light is on the sensor (or was, within the settle time). */
  private blinded(now: number): boolean {
    const spot = this.ctx.hardware.parts.spotlight?.state().on ?? false;
    const lit = spot || [...this.ownLit.values()].some(Boolean);
    // Seen lit at this instant: the settle time runs from the last time it was seen lit.
    if (lit) this.blindUntil = Math.max(this.blindUntil, now + OWN_LIGHT_SETTLE_MS);
    return lit || now < this.blindUntil;
  }

  private async sample(): Promise<void> {
    const { ctx } = this;
    const sensor = ctx.hardware.parts.lightSensor;
    const mode = this.st.mode;
    if (!sensor) {
      // Without a sensor auto can only guess; colour is the safe guess (IR at noon washes out).
      const want: Phase = mode === 'auto' ? 'day' : mode;
      if (this.st.current !== want) this.switchTo(want, mode === 'auto' ? 'no-sensor' : 'forced', null);
      this.fresh = undefined;
      return;
    }
    const before = this.blinded(ctx.clock.now());
    let lux: number;
    try {
      lux = await sensor.readLux();
    } catch (err) {
      if (this.stopped) return;
      if (++this.readFailures === READ_FAULTS) {
        ctx.state.raiseFault(SENSOR_FAULT, { kind: 'camera', component: 'lightSensor', message: `light sensor reads fail: ${errorMessage(err)}` }, ctx.clock.now());
      }
      this.log.warn({ err: errorMessage(err), failures: this.readFailures }, 'light sensor read failed; day/night stays as it is');
      return;
    }
    if (this.stopped || this.st.paused) return;
    if (this.readFailures > 0) ctx.state.clearFault(SENSOR_FAULT);
    this.readFailures = 0;
    const now = ctx.clock.now();
    // A reading integrates over ~120 ms: lit at either end of it, it has the camera's own light in it.
    const blinded = this.blinded(now) || before;
    this.st = { ...this.st, lux: shownLux(this.st.lux, lux), blinded };
    if (blinded) {
      this.decider.forget();
      this.publish();
      return;
    }
    if (mode !== 'auto') {
      // Forced: keep the decider's window warm; a missed forced switch (failed pulse) is retried.
      this.decider.sample(now, lux);
      if (this.st.current !== mode && now >= this.retryAt) this.switchTo(mode, 'forced', lux);
    } else if (this.fresh) {
      const reason = this.fresh;
      this.fresh = undefined;
      this.decider.forget();
      this.decider.sample(now, lux);
      const want = this.decider.fresh(lux);
      if (want !== this.st.current) this.switchTo(want, reason, lux);
    } else {
      const want = this.decider.sample(now, lux);
      if (want && now >= this.retryAt) this.switchTo(want, want === 'night' ? 'dark' : 'light', lux);
    }
    this.publish();
  }

  /** Tells the change detector, pulses the filter, then records the switch; one at a time. */
  private switchTo(phase: Phase, reason: SwitchReason, lux: number | null): void {
    const run = this.switching.then(() => this.switchNow(phase, reason, lux));
    this.switching = run.catch(() => undefined);
  }

  private async switchNow(phase: Phase, reason: SwitchReason, lux: number | null): Promise<void> {
    const { ctx } = this;
    const irCut = ctx.hardware.parts.irCut;
    const ts = ctx.clock.now();
    if (irCut) {
      // Before the pulse, as the alarm does for its lights: the detector must not see the
      // monochrome/brighter image as motion.
      ctx.bus.emit('lights.changing', { source: 'ircut', on: phase === 'night', ts });
      try {
        await irCut.set(phase);
        ctx.state.clearFault(IRCUT_FAULT);
      } catch (err) {
        this.retryAt = ctx.clock.now() + RETRY_MS;
        ctx.state.raiseFault(IRCUT_FAULT, { kind: 'camera', component: 'irCut', message: `IR-cut filter did not move to ${phase}: ${errorMessage(err)}` }, ctx.clock.now());
        this.log.error({ err: errorMessage(err), phase, reason }, 'IR-cut filter did not switch');
        return;
      }
    }
    const now = ctx.clock.now();
    this.decider.switched(phase, now);
    this.st = { ...this.st, current: phase, since: now, reason };
    this.log.info({ phase, reason, lux, mode: this.st.mode }, `switched to ${phase}`);
    ctx.bus.emit('camera.event', { id: randomUUID(), ts: now, kind: 'system', type: `daynight.${phase}`, data: { reason, lux, mode: this.st.mode } });
    this.publish();
  }

  /** Only a changed slice is written: a reading every 2 s must not make the state chatty. */
  private publish(): void {
    const prev = this.ctx.state.get().daynight;
    if (prev && (Object.keys(this.st) as (keyof DayNightState)[]).every((k) => prev[k] === this.st[k])) return;
    this.ctx.state.set('daynight', { ...this.st });
  }
}

/**
 * The lux shown in the state: a new reading only when it moved by 10 % (at least 1 lx), so a
 * steady scene or sensor noise writes nothing, while dusk still shows in ~10 % steps.
 */
function shownLux(shown: number | null, lux: number): number {
  const r = Math.round(lux * 10) / 10;
  if (shown === null) return r;
  return Math.abs(r - shown) >= Math.max(1, shown * 0.1) ? r : shown;
}

export const daynightService = (ctx: Context): Service => new DayNightService(ctx);
