import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { HeadMotor } from './head.js';
import { isMoving } from './motion-model.js';
import { FOLLOW_STEERING, steer } from './steering.js';

/** Steering period: five speed updates a second is smooth for a 30°/s head and light on RS-485. */
export const FOLLOW_TICK_MS = 200;
/**
 * An open episode with no sighting at all (no update, no track) for this long counts as lost.
 * Only a safety net for a detection side that stopped talking: while it runs, every episode
 * ends with an `end` (the tracker's lost rule, or the lens stopping), and an open episode's
 * gaps are its update spacing (5 s) or the tracker holding it through missed looks (its hold
 * limit, 9 s at the default rates, longer at low inference rates) — well under this.
 */
export const FOLLOW_STALE_MS = 30_000;
/**
 * After the target is lost the head waits this long where it was last seen before it is handed
 * back (to patrol, or home). Someone who steps behind a post is lost by the tracker ~3 s later
 * and comes back as a new episode once re-confirmed (a few looks): without the wait the head
 * would swing to the patrol preset and straight back.
 */
export const FOLLOW_GRACE_MS = 5_000;
/** Ended episodes remembered, so a late sighting of one (delivered after its end) cannot revive it. */
const ENDED_KEPT = 16;

export type SightingSource = 'episode' | 'track';

export interface FollowTarget {
  episodeId: string;
  /** The aim (already limited). */
  pan: number;
  tilt: number;
  /** Clock time of the last sighting of its episode. */
  lastSeen: number;
  /** Clock time it was lost (episode ended, or stale): the grace period runs. Undefined while followed. */
  lostAt?: number;
}

export interface FollowDeps {
  clock: Clock;
  log: Logger;
  /** The target is gone for good (lost, and the grace period passed without it or a successor). */
  onLost(target: FollowTarget): void;
  onChange(): void;
  /** A steering command failed (the controller stopped answering, or the line failed). */
  onError(err: unknown): void;
}

interface Held extends FollowTarget {
  /** Its episode has a per-inference feed (detection.track): episode boxes no longer move the aim. */
  tracked: boolean;
  /** Frame time the aim comes from. */
  frameTs: number;
  /** The aim before the sightings of frame `frameTs`: of several objects of one inference, the nearest to it is kept. */
  before: { pan: number; tilt: number };
}

/**
 * Follow target: steers the PTZ head towards the person the wide lens sees, one person at a
 * time, by the detection side's sightings of their episode: its start and updates, and — much
 * more often — `detection.track` (the object itself, per inference). Between sightings the head
 * keeps closing the gap to the last aim from its motion model.
 *
 * The target is held while its episode is open, however long the gaps between sightings: the
 * episode's `end` is what says the person left (FOLLOW_STALE_MS only when no end comes). A lost
 * target is kept for FOLLOW_GRACE_MS at its last aim; a sighting of the same episode, or of any
 * other person, within it carries on following with no round trip to the patrol. Only then is
 * the target gone (onLost).
 */
export class Follower {
  private current: Held | undefined;
  private timer: TimerHandle | undefined;
  private expiry: TimerHandle | undefined;
  private head: HeadMotor | undefined;
  private busy = false;
  private readonly ended: string[] = [];

  constructor(private readonly d: FollowDeps) {}

  get target(): FollowTarget | undefined {
    const c = this.current;
    return c ? { episodeId: c.episodeId, pan: c.pan, tilt: c.tilt, lastSeen: c.lastSeen, ...(c.lostAt === undefined ? {} : { lostAt: c.lostAt }) } : undefined;
  }

  get steering(): boolean {
    return this.timer !== undefined;
  }

  /**
   * A sighting of a person's episode at these (already limited) angles, from the frame taken at
   * `frameTs`. Returns true if it is (now) the followed one.
   */
  observe(episodeId: string, pan: number, tilt: number, frameTs: number, source: SightingSource): boolean {
    if (this.ended.includes(episodeId)) return false;
    const now = this.d.clock.now();
    const c = this.current;
    if (c && c.episodeId !== episodeId && c.lostAt === undefined) return false;
    if (!c || c.episodeId !== episodeId) {
      // The first person, or someone found while the last one's grace runs: the head is still here.
      this.d.log.info({ episodeId, pan, tilt, ...(c ? { after: c.episodeId } : {}) }, c ? 'follow: next target (within the grace period)' : 'follow: new target');
      this.current = { episodeId, pan, tilt, lastSeen: now, tracked: source === 'track', frameTs, before: { pan, tilt } };
    } else {
      if (c.lostAt !== undefined) {
        this.d.log.info({ episodeId, lostMs: now - c.lostAt }, 'follow: target back');
        c.lostAt = undefined;
      }
      c.lastSeen = now;
      this.aim(c, pan, tilt, frameTs, source);
    }
    this.arm();
    this.d.onChange();
    return true;
  }

  /** The episode ended: its target enters the grace period. */
  end(episodeId: string): void {
    this.ended.push(episodeId);
    if (this.ended.length > ENDED_KEPT) this.ended.shift();
    const c = this.current;
    if (c?.episodeId === episodeId && c.lostAt === undefined) this.hold(c, 'episode ended');
  }

  /** Starts steering the head of a lease the caller holds (ours until stop()). */
  start(head: HeadMotor): void {
    if (this.timer) return;
    this.head = head;
    this.timer = this.d.clock.setInterval(() => void this.tick(), FOLLOW_TICK_MS);
    void this.tick();
  }

  /** Stops steering; the motor is left to the next owner (its drive deadline stops it anyway). */
  stop(): void {
    this.d.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.head = undefined;
  }

  /** Forgets the target without a lost callback (follow switched off, sleep). */
  clear(): void {
    this.stop();
    this.d.clock.clearTimeout(this.expiry);
    this.expiry = undefined;
    this.current = undefined;
  }

  /**
   * Moves the aim. Per-inference tracks win over the episode's box (the episode shows its best
   * object, which may be someone else); of several tracks of one inference, the one nearest to
   * the aim before it is kept; an older frame delivered late does not move the aim back.
   */
  private aim(c: Held, pan: number, tilt: number, frameTs: number, source: SightingSource): void {
    if (source === 'episode' && c.tracked) return;
    if (source === 'track' && !c.tracked) {
      c.tracked = true;
      c.frameTs = -Infinity;
    }
    if (frameTs < c.frameTs) return;
    if (frameTs === c.frameTs) {
      const dist = (p: number, t: number): number => Math.hypot(p - c.before.pan, t - c.before.tilt);
      if (dist(pan, tilt) >= dist(c.pan, c.tilt)) return;
    } else c.before = { pan: c.pan, tilt: c.tilt };
    c.frameTs = frameTs;
    c.pan = pan;
    c.tilt = tilt;
  }

  private hold(c: Held, why: string): void {
    c.lostAt = this.d.clock.now();
    this.d.log.info({ episodeId: c.episodeId, why, graceMs: FOLLOW_GRACE_MS }, 'follow: target lost, holding the head at its last position');
    this.arm();
    this.d.onChange();
  }

  /** One timer for the target's next deadline: the end of its grace period, or its stale timeout. */
  private arm(): void {
    this.d.clock.clearTimeout(this.expiry);
    this.expiry = undefined;
    const c = this.current;
    if (!c) return;
    const due = c.lostAt !== undefined ? c.lostAt + FOLLOW_GRACE_MS : c.lastSeen + FOLLOW_STALE_MS;
    this.expiry = this.d.clock.setTimeout(() => this.expire(), Math.max(0, due - this.d.clock.now()));
  }

  private expire(): void {
    this.expiry = undefined;
    const c = this.current;
    if (!c) return;
    const now = this.d.clock.now();
    if (c.lostAt !== undefined && now >= c.lostAt + FOLLOW_GRACE_MS) this.lose(c);
    else if (c.lostAt === undefined && now >= c.lastSeen + FOLLOW_STALE_MS) this.hold(c, `not seen for ${FOLLOW_STALE_MS / 1000} s`);
    else this.arm();
  }

  private lose(c: Held): void {
    this.stop();
    this.current = undefined;
    const t: FollowTarget = { episodeId: c.episodeId, pan: c.pan, tilt: c.tilt, lastSeen: c.lastSeen, lostAt: c.lostAt };
    this.d.log.info({ episodeId: c.episodeId, lostMs: c.lostAt === undefined ? 0 : this.d.clock.now() - c.lostAt }, 'follow: target gone');
    this.d.onLost(t);
  }

  private async tick(): Promise<void> {
    const head = this.head;
    if (this.busy || !this.timer || !head) return;
    const t = this.current;
    if (!t) return;
    const now = this.d.clock.now();
    const pos = head.position(now);
    const m = head.motion();
    // The speed steering starts from: what the head does now (a goto it inherited runs at the
    // axis's full speed), brought inside the cap so follow never commands more than it.
    const cap = FOLLOW_STEERING.maxSpeed;
    const current = (a: typeof m.pan): number => (isMoving(a, now) ? Math.max(-cap, Math.min(cap, a.velocity)) : 0);
    // In the grace period too: the head settles on the last aim and waits there.
    const pan = steer(t.pan - pos.pan, current(m.pan), FOLLOW_TICK_MS, FOLLOW_STEERING);
    const tilt = m.tilt ? steer(t.tilt - pos.tilt, current(m.tilt), FOLLOW_TICK_MS, FOLLOW_STEERING) : 0;
    this.busy = true;
    try {
      // The deadline stops the head if steering stops sending (a stalled daemon never leaves it running).
      await head.drive(pan, tilt, FOLLOW_TICK_MS * 5);
    } catch (err) {
      this.d.log.warn({ err: String(err) }, 'follow: steering command failed');
      this.d.onError(err);
    } finally {
      this.busy = false;
    }
  }
}
