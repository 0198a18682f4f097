import type { ClipRef, DetectionEpisode } from '../domain/episode.js';
import type { LensName } from '../domain/types.js';
import type { CardStatus } from './card.js';
import type { RecordReason } from './recording-index.js';

export type RecordingMode = 'off' | 'continuous' | 'event';

export interface KeepSettings {
  mode: RecordingMode;
  preRollMs: number;
  postRollMs: number;
}

interface Window {
  lens: LensName;
  key: string;
  reason: 'event' | 'manual';
  from: number;
  /** null while open. */
  to: number | null;
}

/** A detection that never sends its `.end` must not keep the camera recording for ever. */
export const MAX_EVENT_MS = 10 * 60_000;

/**
 * Decides which finished segments to keep (Frigate's approach: always write short segments,
 * decide afterwards). A segment is kept when it overlaps a window: an event window reaches
 * `preRoll` before the detection started and `postRoll` after it ended; a manual window runs
 * from record.start to record.stop. In continuous mode everything is kept. Pure: no I/O, time
 * comes in as arguments.
 */
export class KeepPolicy {
  private windows: Window[] = [];

  constructor(private readonly settings: () => KeepSettings) {}

  openEvent(lens: LensName, key: string, ts: number): void {
    if (this.windows.some((w) => w.lens === lens && w.key === key && w.to === null)) return;
    this.windows.push({ lens, key, reason: 'event', from: ts, to: null });
  }

  closeEvent(lens: LensName, key: string, ts: number): void {
    for (const w of this.windows) if (w.lens === lens && w.key === key && w.to === null) w.to = Math.max(ts, w.from);
  }

  startManual(lens: LensName, ts: number): boolean {
    if (this.manualActive(lens)) return false;
    this.windows.push({ lens, key: 'manual', reason: 'manual', from: ts, to: null });
    return true;
  }

  stopManual(lens: LensName, ts: number): boolean {
    let stopped = false;
    for (const w of this.windows) {
      if (w.lens === lens && w.reason === 'manual' && w.to === null) {
        w.to = Math.max(ts, w.from);
        stopped = true;
      }
    }
    return stopped;
  }

  /** The clock was stepped: windows opened (or closed) before it move with the segments they match. */
  shift(stepMs: number): void {
    for (const w of this.windows) {
      w.from += stepMs;
      if (w.to !== null) w.to += stepMs;
    }
  }

  manualActive(lens: LensName): boolean {
    return this.windows.some((w) => w.lens === lens && w.reason === 'manual' && w.to === null);
  }

  eventActive(lens: LensName): boolean {
    return this.windows.some((w) => w.lens === lens && w.reason === 'event' && w.to === null);
  }

  /** Why the segment [start, end] is kept, or null (stays in staging as possible pre-roll). */
  decide(lens: LensName, start: number, end: number): RecordReason | null {
    const s = this.settings();
    let reason: RecordReason | null = s.mode === 'continuous' ? 'continuous' : null;
    for (const w of this.windows) {
      if (w.lens !== lens) continue;
      const from = w.reason === 'event' ? w.from - s.preRollMs : w.from;
      const to = w.to === null ? Infinity : w.reason === 'event' ? w.to + s.postRollMs : w.to;
      if (end < from || start > to) continue;
      if (w.reason === 'manual') return 'manual';
      if (s.mode !== 'off') reason = 'event';
    }
    return reason;
  }

  /** A segment that ended before this is no longer anyone's pre-roll. */
  stagingHorizon(now: number): number {
    return now - this.settings().preRollMs;
  }

  /** Forgets windows that can no longer touch a segment, and closes runaway events. */
  prune(now: number, maxSegmentMs: number): void {
    const { postRollMs } = this.settings();
    for (const w of this.windows) if (w.reason === 'event' && w.to === null && now - w.from > MAX_EVENT_MS) w.to = w.from + MAX_EVENT_MS;
    this.windows = this.windows.filter((w) => w.to === null || w.to + postRollMs + 2 * maxSegmentMs >= now);
  }

  /** The clip an episode event stands for, with the settings of this moment (see clipWindow). */
  clip(e: Pick<DetectionEpisode, 'lens' | 'phase' | 'startedAt' | 'ts'>, card: CardStatus | undefined): ClipRef {
    return clipWindow(this.settings(), e, card);
  }

  activeReasons(lens: LensName): ('event' | 'manual')[] {
    const out = new Set<'event' | 'manual'>();
    for (const w of this.windows) if (w.lens === lens && w.to === null) out.add(w.reason);
    return [...out];
  }
}

/**
 * The recording of an episode as the cloud record references it: the event window with its
 * pre-roll from the start and, once the episode ended, its post-roll — the same span decide()
 * keeps segments for. `recorded: false` with the reason when nothing is being kept (recording
 * off, or no card that takes recordings).
 */
export function clipWindow(s: KeepSettings, e: Pick<DetectionEpisode, 'lens' | 'phase' | 'startedAt' | 'ts'>, card: CardStatus | undefined): ClipRef {
  const from = e.startedAt - s.preRollMs;
  const to = e.phase === 'end' ? e.ts + s.postRollMs : null;
  const usable = card === 'in-use' || card === 'full';
  const reason = s.mode === 'off' ? 'recording is off' : usable ? undefined : `no card in use (card ${card ?? 'absent'})`;
  return { lens: e.lens, from, to, recorded: !reason, ...(reason ? { reason } : {}) };
}
