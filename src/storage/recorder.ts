import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { SegmentDone } from '../capture/types.js';
import type { DetectionEpisode, EpisodeClip } from '../domain/episode.js';
import { LENSES, type LensName } from '../domain/types.js';
import type { CardStatus } from './card.js';
import type { RecordingEntry, RecordingIndex, RecordReason } from './recording-index.js';
import type { LensRecordingState } from './types.js';
import type { KeepPolicy } from './windows.js';

export interface RecorderDeps {
  policy: KeepPolicy;
  /** The index of the card in use, or undefined when no card can take recordings. */
  index(): RecordingIndex | undefined;
  now(): number;
  /** Whether the clock can be trusted now (undefined: nobody knows — taken as synchronised). */
  clockSynced(): boolean | undefined;
  /** The card's status, for the clip reference's `recorded`/`reason`. */
  card(): CardStatus | undefined;
  log: Logger;
  /** A write to the card failed: have the card looked at. */
  onCardError(reason: string): void;
}

/**
 * Keeps or drops the staging segments capture hands on. A segment a window wants is moved into
 * the recordings and indexed; one nobody wants yet waits in staging as possible pre-roll until it
 * is older than the pre-roll, then it is deleted. A detection start looks back at the waiting
 * segments, which is why pre-roll costs nothing.
 *
 * It owns the clip window of a detection episode: onEpisode() opens/closes the episode's window
 * and says which clip (pre-roll to post-roll) stands for it, which the cloud record carries.
 */
export class Recorder {
  private readonly waiting = new Map<LensName, SegmentDone[]>();
  /** Wanted segments the card could not take (full, write error): back in staging, kept later. */
  private readonly unkept = new Map<LensName, { seg: SegmentDone; reason: RecordReason }[]>();
  private readonly stats = new Map<LensName, LensRecordingState>();
  private chain: Promise<unknown> = Promise.resolve();
  /** Kept by this process while the clock was not synchronised: re-dated when it is. */
  private keptUnsynced: RecordingEntry[] = [];
  /**
   * Segments whose times came from a clock not yet synchronised, stamped when they arrive (the
   * verdict may change before their turn in the chain); the step clears the stamp of those it moves.
   */
  private readonly unsyncedSegs = new WeakSet<SegmentDone>();

  constructor(private readonly deps: RecorderDeps) {
    for (const lens of LENSES) {
      this.waiting.set(lens, []);
      this.unkept.set(lens, []);
      this.stats.set(lens, { active: false, reasons: [], kept: 0, dropped: 0, staging: 0 });
    }
  }

  onSegment(seg: SegmentDone): Promise<void> {
    if (this.deps.clockSynced() === false) this.unsyncedSegs.add(seg);
    return this.serial(async () => {
      const reason = this.deps.policy.decide(seg.lens, seg.start, seg.end);
      if (reason) await this.keep(seg, reason);
      else this.waiting.get(seg.lens)!.push(seg);
    });
  }

  /**
   * A detection episode: a start opens its window at once (the waiting segments it reaches with
   * its pre-roll are kept: `kept` resolves when they are), an end closes it (post-roll follows).
   * Windows are keyed by type: the tracker has at most one open episode per type and lens.
   * `clip` is decided now, with the settings and card of this moment.
   */
  onEpisode(e: DetectionEpisode): { clip: EpisodeClip; kept?: Promise<void> } {
    const clip: EpisodeClip = { episodeId: e.id, phase: e.phase, ts: e.ts, clip: this.deps.policy.clip(e, this.deps.card()) };
    if (e.phase === 'start') {
      this.deps.policy.openEvent(e.lens, e.type, e.ts);
      return { clip, kept: this.promote() };
    }
    if (e.phase === 'end') this.deps.policy.closeEvent(e.lens, e.type, e.ts);
    return { clip };
  }

  startManual(lens: LensName): Promise<boolean> {
    const started = this.deps.policy.startManual(lens, this.deps.now());
    return this.promote().then(() => started);
  }

  stopManual(lens: LensName): boolean {
    return this.deps.policy.stopManual(lens, this.deps.now());
  }

  /** Drops waiting segments nobody can want any more; forgets old windows. */
  tick(maxSegmentMs: number): Promise<void> {
    return this.serial(async () => {
      const now = this.deps.now();
      this.deps.policy.prune(now, maxSegmentMs);
      const horizon = this.deps.policy.stagingHorizon(now);
      for (const [lens, list] of this.waiting) {
        const keep: SegmentDone[] = [];
        for (const seg of list) {
          if (seg.end >= horizon) {
            keep.push(seg);
            continue;
          }
          await fs.rm(seg.file, { force: true }).catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'cannot drop a staging segment'));
          this.stats.get(lens)!.dropped++;
        }
        this.waiting.set(lens, keep);
      }
    });
  }

  /** Shutdown: what waits as pre-roll can no longer be anyone's (a restart ends every event). */
  dropWaiting(): Promise<void> {
    return this.serial(async () => {
      for (const [lens, list] of this.waiting) {
        for (const seg of list) await fs.rm(seg.file, { force: true }).catch(() => undefined);
        this.waiting.set(lens, []);
      }
    });
  }

  /** The card went away or was wiped: what waited in staging is gone with it. */
  forgetStaging(): void {
    for (const lens of LENSES) {
      this.waiting.set(lens, []);
      this.unkept.set(lens, []);
    }
  }

  /**
   * The card has room again (retention freed space, or it was never short): keep the segments
   * that could not be kept before, oldest first. One that fails again waits for the next call.
   * At shutdown they stay in staging, where the next start salvages them.
   */
  retryUnkept(): Promise<void> {
    if (![...this.unkept.values()].some((l) => l.length)) return Promise.resolve();
    return this.serial(async () => {
      for (const [lens, list] of this.unkept) {
        this.unkept.set(lens, []);
        for (const { seg, reason } of list) {
          const there = await fs.stat(seg.file).then(() => true, () => false);
          if (there) await this.keep(seg, reason);
        }
      }
    });
  }

  state(lens: LensName, mode: 'off' | 'continuous' | 'event'): LensRecordingState {
    const s = this.stats.get(lens)!;
    const reasons: RecordReason[] = [...this.deps.policy.activeReasons(lens)];
    if (mode === 'continuous') reasons.unshift('continuous');
    const canKeep = !!this.deps.index();
    return { ...s, active: canKeep && reasons.length > 0, reasons, staging: this.waiting.get(lens)!.length + this.unkept.get(lens)!.length };
  }

  /**
   * The clock was stepped by `stepMs` (NTP's first answer). In order with the segments (they are
   * serial): what waits as pre-roll and what could not be kept moves by the step in memory, what
   * was kept meanwhile is renamed and re-indexed at its right time. Capture re-anchors its runs
   * itself, so segments after this already carry right times.
   */
  onClockStep(stepMs: number): Promise<void> {
    return this.serial(async () => {
      this.deps.policy.shift(stepMs);
      const shift = (seg: SegmentDone): void => {
        if (!this.unsyncedSegs.delete(seg)) return; // already right (arrived after the step)
        seg.start += stepMs;
        seg.end += stepMs;
      };
      for (const list of this.waiting.values()) list.forEach(shift);
      for (const list of this.unkept.values()) for (const { seg } of list) shift(seg);
      const kept = this.keptUnsynced;
      this.keptUnsynced = [];
      const index = this.deps.index();
      if (!index || kept.length === 0) return;
      try {
        const moved = await index.redate(kept, stepMs);
        this.deps.log.info({ recordings: moved.length, stepMs }, 'recordings made before the clock was synchronised re-dated');
      } catch (err) {
        // Left with their `u` mark (still right, only not re-dated): listings say the time is unsure.
        this.deps.log.error({ err: errorMessage(err), stepMs }, 'could not re-date recordings made before the clock was synchronised');
        this.deps.onCardError(`re-dating recordings failed: ${errorMessage(err)}`);
      }
    });
  }

  idle(): Promise<void> {
    return this.chain.then(() => undefined);
  }

  private promote(): Promise<void> {
    return this.serial(async () => {
      for (const [lens, list] of this.waiting) {
        const rest: SegmentDone[] = [];
        for (const seg of list) {
          const reason = this.deps.policy.decide(lens, seg.start, seg.end);
          if (reason) await this.keep(seg, reason);
          else rest.push(seg);
        }
        this.waiting.set(lens, rest);
      }
    });
  }

  private async keep(seg: SegmentDone, reason: RecordReason): Promise<void> {
    const index = this.deps.index();
    const st = this.stats.get(seg.lens)!;
    if (!index) {
      st.lastError = 'no card in use: segment not kept';
      return;
    }
    try {
      const unsynced = this.unsyncedSegs.has(seg);
      const entry = await index.add(seg.lens, seg.file, { start: seg.start, end: seg.end, bytes: seg.bytes, reason, ...(seg.partial ? { partial: true } : {}), ...(unsynced ? { clockSynced: false as const } : {}) });
      if (unsynced) this.keptUnsynced.push(entry);
      st.kept++;
      st.lastKeptAt = this.deps.now();
      delete st.lastError;
    } catch (err) {
      st.lastError = errorMessage(err);
      this.deps.log.error({ lens: seg.lens, file: seg.file, err: errorMessage(err) }, 'could not keep a recording');
      this.unkept.get(seg.lens)!.push({ seg, reason });
      this.deps.onCardError(`keeping a recording failed: ${errorMessage(err)}`);
    }
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
