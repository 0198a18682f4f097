import type { Logger } from 'pino';
import type { AxisPosition } from '../../drivers/devices/types.js';
import type { Clock } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import type { GotoResult, MotorController } from './controller.js';

/**
 * Who may drive the PTZ head, highest first. One owner at a time; each asks the arbiter for a
 * lease and drives the motor only through it.
 *
 * - `homing` (boot, recovery): exclusive. Until the head's position is known nothing else may
 *   move it; it takes the head from anyone and nobody takes it from homing.
 * - `manual`: a user command running (`ptz.move|stop|goto|home|look`, `ptz.preset.goto`). A person
 *   at the controls now wins over everything the camera does by itself, the 360° sweep included
 *   (a sweep they started is stopped by their next command — the way to cancel it). Manual
 *   commands supersede each other, newest first, as they always did.
 * - `sweep`: the 360° view. A user asked for it, so it beats the automation, but it is a batch
 *   job: a live manual command beats it.
 * - `hold`: the minute after the last manual command (MANUAL_HOLD_MS), nothing moving. It keeps
 *   patrol and follow off the head so the user's view stays put, but does not block the user's
 *   own next request (a 360° sweep right after pointing the lens is allowed, as before).
 * - `follow`: a person on the wide lens. Following someone is worth more than the round.
 * - `patrol`: the preset round, the lowest; it resumes at its preset once the head is free.
 *
 * A request that outranks the holder preempts it (the holder is told through `onPreempt` and
 * its lease stops working at once); the same owner asking again supersedes its own older lease;
 * a lower request is refused with `busy`, naming the holder.
 */
export const HEAD_PRIORITY = {
  homing: 100,
  manual: 50,
  sweep: 40,
  hold: 30,
  follow: 20,
  patrol: 10,
} as const;

export type HeadOwner = keyof typeof HEAD_PRIORITY;

const LABEL: Record<HeadOwner, string> = {
  homing: 'homing',
  manual: 'manual control',
  sweep: 'the 360° sweep',
  hold: 'manual control (holding the view)',
  follow: 'follow-target',
  patrol: 'patrol',
};

/** Who holds the head, as published in state `ptz.head`. */
export interface HeadHolder {
  owner: HeadOwner;
  priority: number;
  /** epoch ms the lease was granted */
  since: number;
  /** What it is doing, e.g. the command name (`ptz.goto`) or the preset. */
  why?: string;
}

/** What a lease holder may do with the head: the controller's motions, guarded by the lease. */
export interface HeadMotor {
  readonly limits: MotorController['limits'];
  position(t?: number): AxisPosition;
  moving(t?: number): boolean;
  motion(): ReturnType<MotorController['motion']>;
  query(): Promise<AxisPosition>;
  move(panByte: number, tiltByte: number, timeoutMs: number): ReturnType<MotorController['move']>;
  drive(panDegS: number, tiltDegS: number, timeoutMs: number): Promise<void>;
  stop(): Promise<AxisPosition>;
  goto(target: { pan?: number; tilt?: number }): Promise<GotoResult>;
  home(): ReturnType<MotorController['home']>;
}

export interface HeadRequest {
  owner: HeadOwner;
  why?: string;
  /** The lease was taken by `by`: stop driving (the lease's motor already refuses). Must not throw; if it does, it is logged. */
  onPreempt?: (by: HeadHolder) => void;
}

export interface HeadLease {
  readonly holder: Readonly<HeadHolder>;
  /** Aborted when the lease ends (preempted or released): waits of its holder end with it. */
  readonly signal: AbortSignal;
  readonly active: boolean;
  /** Only for this lease: every motion through it throws `busy` once the lease has ended. */
  readonly motor: HeadMotor;
  /** Idempotent; releasing a lease that was preempted leaves the new holder alone. */
  release(): void;
}

export interface ArbiterOptions {
  motor: HeadMotor;
  clock: Clock;
  log: Logger;
  /** The holder changed (publish it). */
  onChange(holder: HeadHolder | null): void;
}

export function describeHolder(h: HeadHolder): string {
  return `${LABEL[h.owner]}${h.why ? ` (${h.why})` : ''}`;
}

/**
 * The one owner of the PTZ head's motor: grants, preempts and refuses leases by HEAD_PRIORITY.
 * Reads (position, model, query) need no lease; every motion goes through one.
 */
export class HeadArbiter {
  private current: Lease | undefined;

  constructor(private readonly o: ArbiterOptions) {}

  get holder(): HeadHolder | null {
    return this.current ? { ...this.current.holder } : null;
  }

  /** Whether `owner` would get the head now (without taking it). */
  wouldGrant(owner: HeadOwner): boolean {
    const cur = this.current;
    return !cur || cur.holder.owner === owner || (cur.holder.owner !== 'homing' && HEAD_PRIORITY[owner] > cur.holder.priority);
  }

  /** Grants the head or throws CamdError `busy` naming the holder. */
  acquire(req: HeadRequest): HeadLease {
    const cur = this.current;
    if (cur && !this.wouldGrant(req.owner)) {
      const since = new Date(cur.holder.since).toISOString();
      throw new CamdError('busy', `the PTZ head is in use by ${describeHolder(cur.holder)} since ${since}; ${LABEL[req.owner]} ranks lower (priority ${HEAD_PRIORITY[req.owner]} < ${cur.holder.priority})`);
    }
    const lease = new Lease(this, this.o.motor, { owner: req.owner, priority: HEAD_PRIORITY[req.owner], since: this.o.clock.now(), ...(req.why ? { why: req.why } : {}) }, req.onPreempt);
    this.current = lease;
    if (cur) {
      this.o.log.info({ from: cur.holder.owner, fromWhy: cur.holder.why, to: req.owner, why: req.why }, 'PTZ head preempted');
      cur.end();
      try {
        cur.onPreempt?.(lease.holder);
      } catch (err) {
        // The new owner has the head either way: a preempted mover that fails to stop cleanly cannot move it any more.
        this.o.log.warn({ owner: cur.holder.owner, err: errorMessage(err) }, 'preempted mover failed while stopping');
      }
    } else this.o.log.debug({ owner: req.owner, why: req.why }, 'PTZ head taken');
    this.o.onChange(this.holder);
    return lease;
  }

  /**
   * Runs `fn` under a lease and releases it however `fn` ends: a mover that throws (or crashes
   * mid-move) never keeps the head.
   */
  async run<T>(req: HeadRequest, fn: (lease: HeadLease) => Promise<T>): Promise<T> {
    const lease = this.acquire(req);
    try {
      return await fn(lease);
    } finally {
      lease.release();
    }
  }

  /** @internal called by a lease */
  released(lease: Lease): void {
    if (this.current !== lease) return;
    this.current = undefined;
    this.o.log.debug({ owner: lease.holder.owner }, 'PTZ head released');
    this.o.onChange(null);
  }

  /** The service stops: every lease ends, nobody is told (they are being stopped too). */
  dispose(): void {
    this.current?.end();
    this.current = undefined;
  }
}

class Lease implements HeadLease {
  private readonly abort = new AbortController();
  readonly motor: HeadMotor;

  constructor(
    private readonly arbiter: HeadArbiter,
    m: HeadMotor,
    readonly holder: Readonly<HeadHolder>,
    readonly onPreempt: ((by: HeadHolder) => void) | undefined,
  ) {
    const guard = (): HeadMotor => {
      if (this.abort.signal.aborted) {
        const now = arbiter.holder;
        throw new CamdError('busy', `${describeHolder(holder)} no longer holds the PTZ head${now ? `: ${describeHolder(now)} has it` : ''}`);
      }
      return m;
    };
    this.motor = {
      get limits() {
        return m.limits;
      },
      position: (t) => m.position(t),
      moving: (t) => m.moving(t),
      motion: () => m.motion(),
      query: () => m.query(),
      move: (p, t, ms) => guard().move(p, t, ms),
      drive: (p, t, ms) => guard().drive(p, t, ms),
      stop: () => guard().stop(),
      goto: (target) => guard().goto(target),
      home: () => guard().home(),
    };
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get active(): boolean {
    return !this.abort.signal.aborted;
  }

  end(): void {
    this.abort.abort();
  }

  release(): void {
    if (!this.active) return;
    this.end();
    this.arbiter.released(this);
  }
}
