import type { Logger } from 'pino';
import { sleep, type Clock } from '../core/clock.js';
import type { HeadMotor } from './head.js';

export interface PatrolPreset {
  name: string;
  pan: number;
  tilt: number;
  dwellSeconds?: number;
}

export interface PatrolDeps {
  clock: Clock;
  log: Logger;
  /** Read on every step, so edits to the presets apply from the next stop on. */
  presets(): readonly PatrolPreset[];
  defaultDwellSeconds(): number;
  /** The preset being visited or dwelt at; null when patrol stops. */
  onPreset(name: string | null): void;
  onError(err: unknown): void;
}

/**
 * Auto patrol: visits the presets in their configured order, dwelling at each (its own
 * dwellSeconds, else ptz.patrol.dwellSeconds), round and round. The dwell starts once the head
 * has arrived (verified by a position query), so travel time never eats into the view time.
 * After an interruption (follow target, manual control, the 360° sweep: the head arbiter
 * preempted its lease and stop() was called) it resumes at the preset it was on.
 */
export class Patrol {
  private abort: AbortController | undefined;
  private index = 0;

  constructor(private readonly d: PatrolDeps) {}

  get running(): boolean {
    return this.abort !== undefined;
  }

  /**
   * Starts the round on the head of a lease the caller holds; `onEnd` when the loop ends by
   * itself (no presets, an error), so the caller can release the lease.
   */
  start(head: HeadMotor, onEnd?: () => void): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    void this.loop(head, abort.signal).finally(() => {
      if (this.abort !== abort) return;
      this.abort = undefined;
      onEnd?.();
    });
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    this.d.onPreset(null);
  }

  private async loop(head: HeadMotor, signal: AbortSignal): Promise<void> {
    this.d.log.info('patrol started');
    while (!signal.aborted) {
      const presets = this.d.presets();
      if (presets.length === 0) break;
      const i = this.index % presets.length;
      const p = presets[i]!;
      this.d.onPreset(p.name);
      try {
        const r = await head.goto({ pan: p.pan, tilt: p.tilt });
        // Superseded by another command: whoever took the head decides what comes next.
        if (!r.arrived || signal.aborted) return;
        await sleep(this.d.clock, (p.dwellSeconds ?? this.d.defaultDwellSeconds()) * 1000, signal);
      } catch (err) {
        if (signal.aborted) return;
        this.d.log.warn({ preset: p.name, err: String(err) }, 'patrol stopped');
        this.d.onError(err);
        return;
      }
      this.index = i + 1;
    }
    this.d.log.info('patrol ended');
  }
}
