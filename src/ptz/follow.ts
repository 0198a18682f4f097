import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { HeadMotor } from './head.js';
import { FOLLOW_STEERING, steer } from './steering.js';

/** Steering period: five speed updates a second is smooth for a 30°/s head and light on RS-485. */
export const FOLLOW_TICK_MS = 200;
/** A target not seen for this long is gone (the detector's episode end may never come). */
export const FOLLOW_LOST_MS = 4000;

export interface FollowTarget {
  episodeId: string;
  pan: number;
  tilt: number;
  lastSeen: number;
}

export interface FollowDeps {
  clock: Clock;
  log: Logger;
  /** The target left (episode ended or timed out). */
  onLost(target: FollowTarget): void;
  onChange(): void;
  /** A steering command failed (the controller stopped answering, or the line failed). */
  onError(err: unknown): void;
}

/**
 * Follow target: steers the PTZ head towards the person the wide lens sees. One person at a
 * time: the first episode seen is followed until it ends or goes unseen for FOLLOW_LOST_MS;
 * then the next person's update takes over. The aim is re-computed on every detection; between
 * detections the head keeps closing the gap using its motion model, so it does not stall or
 * overshoot while waiting for the next box.
 */
export class Follower {
  private current: FollowTarget | undefined;
  private timer: TimerHandle | undefined;
  private head: HeadMotor | undefined;
  private busy = false;

  constructor(private readonly d: FollowDeps) {}

  get target(): FollowTarget | undefined {
    return this.current;
  }

  get steering(): boolean {
    return this.timer !== undefined;
  }

  /** A detection of a person at these (already limited) angles. Returns true if it is the followed one. */
  observe(episodeId: string, pan: number, tilt: number, ts: number): boolean {
    if (this.current && this.current.episodeId !== episodeId) return false;
    const isNew = !this.current;
    this.current = { episodeId, pan, tilt, lastSeen: Math.max(ts, this.current?.lastSeen ?? 0) };
    if (isNew) this.d.log.info({ episodeId, pan, tilt }, 'follow: new target');
    this.d.onChange();
    return true;
  }

  end(episodeId: string): void {
    if (this.current?.episodeId === episodeId) this.lose('episode ended');
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
    this.current = undefined;
  }

  private lose(why: string): void {
    const t = this.current;
    this.stop();
    this.current = undefined;
    if (!t) return;
    this.d.log.info({ episodeId: t.episodeId, why }, 'follow: target gone');
    this.d.onLost(t);
  }

  private async tick(): Promise<void> {
    const head = this.head;
    if (this.busy || !this.timer || !head) return;
    const t = this.current;
    if (!t) return;
    const now = this.d.clock.now();
    if (now - t.lastSeen > FOLLOW_LOST_MS) {
      this.lose('not seen');
      return;
    }
    const pos = head.position(now);
    const m = head.motion();
    const pan = steer(t.pan - pos.pan, m.pan.velocity, FOLLOW_TICK_MS, FOLLOW_STEERING);
    const tilt = m.tilt ? steer(t.tilt - pos.tilt, m.tilt.velocity, FOLLOW_TICK_MS, FOLLOW_STEERING) : 0;
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
