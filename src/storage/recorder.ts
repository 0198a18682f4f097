import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { SegmentDone } from '../capture/types.js';
import type { DetectionEpisode, EpisodeClip } from '../domain/episode.js';
import { LENSES, type LensName } from '../domain/types.js';
import type { CardStatus } from './card.js';
import type { RecordingIndex, RecordReason } from './recording-index.js';
import type { LensRecordingState } from './types.js';
import type { KeepPolicy } from './windows.js';

export interface RecorderDeps {
  policy: KeepPolicy;
  /** The index of the card in use, or undefined when no card can take recordings. */
  index(): RecordingIndex | undefined;
  now(): number;
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

  constructor(private readonly deps: RecorderDeps) {
    for (const lens of LENSES) {
      this.waiting.set(lens, []);
      this.unkept.set(lens, []);
      this.stats.set(lens, { active: false, reasons: [], kept: 0, dropped: 0, staging: 0 });
    }
  }

  onSegment(seg: SegmentDone): Promise<void> {
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
      await index.add(seg.lens, seg.file, { start: seg.start, end: seg.end, bytes: seg.bytes, reason, ...(seg.partial ? { partial: true } : {}) });
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
