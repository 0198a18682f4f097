import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Logger } from 'pino';
import { SimWallClock, type TimerHandle } from '../core/clock.js';
import { parseChronyTracking, parseTimedatectl, setClockSynced } from '../core/clock-sync.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { OnceRunner, type OnceSpec } from '../supervisor/runner.js';
import type { Context, Service } from '../supervisor/service.js';
import '../domain/clock.js';

/** How the clock's state is learnt: the board's time daemon, or the sim's switch. */
export type ClockSource = 'sim' | 'timedatectl' | 'chrony';

/** State slice `clock`: whether times the camera writes can be trusted. */
export interface ClockState {
  synced: boolean;
  source: ClockSource;
  /** When the probe last answered (epoch ms, by the clock it judges). */
  checkedAt: number;
  /** When the clock was first seen synchronised in this boot. */
  syncedAt?: number;
  /** Why the last probe gave no verdict (program missing, unreadable output). */
  error?: string;
}

declare module '../state/store.js' {
  interface CamState {
    clock?: ClockState;
  }
}

/** Once a minute until synchronised, then never again (NTP keeps it so; a later loss is not probed for). */
export const PROBE_INTERVAL_MS = 60_000;
const PROBE_TIMEOUT_MS = 5_000;

export const PROBES: Record<Exclude<ClockSource, 'sim'>, { spec: OnceSpec; parse: (stdout: string) => boolean | undefined }> = {
  timedatectl: { spec: { name: 'clock.probe', command: 'timedatectl', args: ['show', '-p', 'NTPSynchronized', '--value'], timeoutMs: PROBE_TIMEOUT_MS }, parse: parseTimedatectl },
  chrony: { spec: { name: 'clock.probe', command: 'chronyc', args: ['tracking'], timeoutMs: PROBE_TIMEOUT_MS }, parse: parseChronyTracking },
};

/**
 * Learns whether the system clock is synchronised: on a board by running its time daemon's status
 * command through the OnceRunner every minute until it says so; on the sim board the clock is
 * synced unless the `sim.clock` hook says otherwise. The verdict goes to `state.clock` and to
 * src/core/clock-sync.ts (events are stamped `clockSynced`, certificate errors get the hint).
 * When it turns synchronised a `system` event `clock.synced` says so.
 */
export class TimeService implements Service {
  readonly name = 'time';
  private readonly log: Logger;
  private procs: OnceRunner | undefined;
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private running = false;
  private readonly source: ClockSource;
  /**
   * Wall minus monotonic time when the clock was first seen unsynchronised: the step NTP makes
   * shows as the change of this difference (the monotonic clock never jumps).
   */
  private offsetUnsynced: number | undefined;
  constructor(
    private readonly ctx: Context,
    private readonly mono: () => number = () => performance.now(),
  ) {
    this.log = ctx.log('time');
    this.source = ctx.board.system.clock ?? (ctx.board.backend === 'sim' ? 'sim' : 'timedatectl');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.running = true;
    if (this.source === 'sim') {
      this.record(true);
      ctx.commands.register(this, {
        name: 'sim.clock',
        access: 'local',
        summary: '(sim board) pretend the clock is (not) synchronised, as a board without RTC before NTP answers',
        args: z
          .object({
            synced: z.boolean(),
            behindMs: z.number().int().min(0).max(1e13).optional().describe('with synced=false: set the sim clock this far behind (e.g. Date.now() for 1970); synced=true sets it right again, as NTP would'),
          })
          .strict(),
        handler: ({ synced, behindMs }) => {
          if (behindMs !== undefined && synced) throw new CamdError('invalid_args', 'behindMs goes with synced=false (a synchronised clock is right)', 'behindMs');
          // Only the sim board's own clock can be set wrong (in-process tests may inject another).
          if (ctx.clock instanceof SimWallClock) ctx.clock.behindMs = synced ? 0 : (behindMs ?? ctx.clock.behindMs);
          this.record(synced);
          return ctx.state.get().clock;
        },
      });
      return;
    }
    this.procs = new OnceRunner({ clock: ctx.clock, log: this.log, state: ctx.state });
    // Until the first answer the clock is not trusted: a board without RTC is in 1970 right now.
    // What is recorded meanwhile is marked, so the step is measured from here.
    setClockSynced(false);
    this.offsetUnsynced = ctx.clock.now() - this.mono();
    this.timer = ctx.clock.setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
    void this.probe();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.ctx.clock.clearInterval(this.timer);
    await this.procs?.stopAll();
    setClockSynced(undefined);
  }

  private async probe(): Promise<void> {
    if (this.inFlight || !this.running || this.source === 'sim') return;
    this.inFlight = true;
    const probe = PROBES[this.source];
    try {
      const res = await this.procs!.run(probe.spec);
      const verdict = probe.parse(res.stdout);
      if (verdict === undefined) this.record(false, `${probe.spec.command}: no verdict in ${JSON.stringify(res.stdout.slice(0, 80))}`);
      else this.record(verdict);
    } catch (err) {
      if (this.running) this.record(false, errorMessage(err));
    } finally {
      this.inFlight = false;
    }
  }

  /** How far the wall clock moved against the monotonic clock since it was first seen unsynchronised. */
  private stepSinceUnsynced(now: number): number {
    const offset = this.offsetUnsynced;
    this.offsetUnsynced = undefined;
    return offset === undefined ? 0 : Math.round(now - this.mono() - offset);
  }

  private record(synced: boolean, error?: string): void {
    const { ctx } = this;
    const prev = ctx.state.get().clock;
    const now = ctx.clock.now();
    const becameSynced = synced && !prev?.synced;
    if (!synced && this.offsetUnsynced === undefined) this.offsetUnsynced = now - this.mono();
    setClockSynced(synced);
    ctx.state.set('clock', {
      synced,
      source: this.source,
      checkedAt: now,
      ...(synced && { syncedAt: prev?.syncedAt ?? now }),
      ...(error !== undefined && { error }),
    });
    if (error !== undefined && error !== prev?.error) this.log.warn({ error }, 'clock probe failed');
    if (!synced && prev?.synced !== false) this.log.warn({ source: this.source }, 'clock not synchronised: times are marked clockSynced=false until it is');
    if (becameSynced) {
      // Taken as unsynchronised until now (a board's first probe may already say synced): what
      // was marked meanwhile needs the step, if only to lose its mark.
      const wasUnsynced = this.offsetUnsynced !== undefined;
      const stepMs = this.stepSinceUnsynced(now);
      this.log.info({ source: this.source, stepMs }, 'clock synchronised');
      // A board stops probing once synced; the sim keeps its hook.
      if (this.source !== 'sim') ctx.clock.clearInterval(this.timer);
      // Before the event: capture and storage move what they hold, so the event's readers see right times.
      if (wasUnsynced) ctx.bus.emit('clock.stepped', { stepMs, ts: now });
      if (prev) {
        // Stamped clockSynced:true itself (the verdict is set above): the cloud re-dates what came before by stepMs.
        ctx.bus.emit('camera.event', { id: randomUUID(), ts: now, kind: 'system', type: 'clock.synced', data: { source: this.source, unsyncedSince: prev.checkedAt, stepMs } });
      }
    }
  }
}

export const timeService = (ctx: Context): Service => new TimeService(ctx);
