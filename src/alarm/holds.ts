import type { DetectionType } from '../domain/types.js';
import type { Tone } from './pattern.js';

/**
 * Who wants which output on, and until when. An output is on while at least one hold on it is
 * live; each source holds an output at most once (a new hold from the same source replaces the
 * old one, keeping the later end so a second detection extends, never shortens).
 *
 * Sources: `manual` = the Alarm command, `app` = the Spotlight toggle (`spotlight.set`, and
 * `output.set spotlight`), `hand` = `output.set` of a strobe line or the siren (installation
 * test), and the detection types.
 *
 * **Every hold ends.** Each one is bounded by `cap(output, source)` counted from its
 * *activation* — the moment this source's continuous hold on this output began — and the
 * activation is kept when the same source asks again while the hold is live. So asking again
 * never pushes the end past the cap: a cloud loop repeating "on" cannot hold an output on for
 * ever, it gets one capped activation; only a release (off, alarm.stop, expiry) followed by a
 * new request starts a new one. This is the one place every output goes through, so no command
 * can bypass the bound (see bounds.ts for the caps).
 */
export type HoldSource = 'manual' | 'app' | 'hand' | DetectionType;
/** `strobe` = the alternating pair; `strobeRed`/`strobeBlue` = one line held steady by hand. */
export type Output = 'strobe' | 'strobeRed' | 'strobeBlue' | 'siren' | 'spotlight';
export const OUTPUTS: readonly Output[] = ['strobe', 'strobeRed', 'strobeBlue', 'siren', 'spotlight'];

export interface Hold {
  source: HoldSource;
  /** Epoch ms when the hold ends: always a time, never "until released". */
  until: number;
  /** What the source asked for: an end, or null = until released (then the cap alone ends it). */
  requested: number | null;
  /** When this source's continuous hold on this output began; kept across repeated requests. */
  activeSince: number;
  /** When the hold was (last) set: the most recent one decides the siren tone. */
  since: number;
  tone?: Tone;
  brightness?: number;
}

export interface HoldRequest {
  source: HoldSource;
  /** The end asked for; null = until released (bounded by the cap). */
  until: number | null;
  since: number;
  tone?: Tone;
  brightness?: number;
}

/** Longest activation of `source` on `output`, in ms (Infinity = only the request's own end). */
export type CapFn = (output: Output, source: HoldSource) => number;

export class Holds {
  private readonly holds: Record<Output, Map<HoldSource, Hold>> = {
    strobe: new Map(),
    strobeRed: new Map(),
    strobeBlue: new Map(),
    siren: new Map(),
    spotlight: new Map(),
  };

  constructor(private readonly cap: CapFn) {}

  /**
   * Sets (or renews) `req.source`'s hold on `output`. By default a renewal keeps the later end
   * (a second detection extends, never shortens); `replace` takes the new end as asked, shorter
   * or longer (the Alarm command's restart). Either way the end stays within the activation's cap.
   * Throws when the result would have no end (a request without one and no cap): a bug, not input.
   */
  set(output: Output, req: HoldRequest, opts: { replace?: boolean } = {}): Hold {
    const prev = this.holds[output].get(req.source);
    const live = prev && prev.until > req.since ? prev : undefined;
    const activeSince = live ? live.activeSince : req.since;
    const requested = live && !opts.replace ? laterEnd(live.requested, req.until) : req.until;
    const hold: Hold = { ...req, requested, activeSince, until: this.bound(output, req.source, requested, activeSince) };
    this.holds[output].set(req.source, hold);
    return hold;
  }

  /** Puts a hold back exactly as it was (undoing a change that failed half-way). */
  restore(output: Output, hold: Hold): void {
    this.holds[output].set(hold.source, { ...hold });
  }

  /** Re-applies the caps (a setting that bounds them changed). Returns whether an end moved. */
  recap(): boolean {
    let any = false;
    for (const o of OUTPUTS) {
      for (const h of this.holds[o].values()) {
        const until = this.bound(o, h.source, h.requested, h.activeSince);
        if (until !== h.until) {
          h.until = until;
          any = true;
        }
      }
    }
    return any;
  }

  /** Drops holds on `output` (all of them, or the given sources'). Returns whether any was dropped. */
  release(output: Output, sources?: readonly HoldSource[]): boolean {
    const map = this.holds[output];
    const before = map.size;
    if (!sources) map.clear();
    else for (const s of sources) map.delete(s);
    return map.size !== before;
  }

  releaseSource(source: HoldSource): boolean {
    let any = false;
    for (const o of OUTPUTS) any = this.release(o, [source]) || any;
    return any;
  }

  clear(): void {
    for (const o of OUTPUTS) this.holds[o].clear();
  }

  /** Drops holds that ended at or before `now`. Returns whether any was dropped. */
  expire(now: number): boolean {
    let any = false;
    for (const o of OUTPUTS) {
      for (const [s, h] of this.holds[o]) {
        if (h.until <= now) {
          this.holds[o].delete(s);
          any = true;
        }
      }
    }
    return any;
  }

  list(output: Output): Hold[] {
    return [...this.holds[output].values()];
  }

  get(output: Output, source: HoldSource): Hold | undefined {
    return this.holds[output].get(source);
  }

  has(output: Output): boolean {
    return this.holds[output].size > 0;
  }

  /** The most recently set hold on an output (decides tone and brightness). */
  latest(output: Output, prefer?: HoldSource): Hold | undefined {
    const list = this.list(output);
    const preferred = prefer ? list.find((h) => h.source === prefer) : undefined;
    return preferred ?? list.reduce<Hold | undefined>((a, h) => (!a || h.since >= a.since ? h : a), undefined);
  }

  /** When the output goes off by itself (the latest end of its holds); null when it is off. */
  offAt(output: Output): number | null {
    const list = this.list(output);
    return list.length ? Math.max(...list.map((h) => h.until)) : null;
  }

  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const o of OUTPUTS) for (const h of this.holds[o].values()) if (next === undefined || h.until < next) next = h.until;
    return next;
  }

  /** Holds that make up the "alarm": the deterrent, not the app's spotlight toggle or a hand test. */
  alarmHolds(): Hold[] {
    return OUTPUTS.flatMap((o) => this.list(o)).filter((h) => h.source !== 'app' && h.source !== 'hand');
  }

  private bound(output: Output, source: HoldSource, requested: number | null, activeSince: number): number {
    const until = Math.min(requested ?? Infinity, activeSince + this.cap(output, source));
    if (!Number.isFinite(until)) throw new Error(`hold of ${source} on ${output} would have no end`);
    return until;
  }
}

/** The later of two requested ends; "until released" (null) is the latest. */
function laterEnd(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}
