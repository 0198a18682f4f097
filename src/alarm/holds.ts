import type { Tone } from './pattern.js';

/**
 * Who wants which output on, and until when. An output is on while at least one hold on it is
 * live; each source holds an output at most once (a new hold from the same source replaces the
 * old one, keeping the later end so a second detection extends, never shortens).
 *
 * Sources: `manual` = the Alarm command, `app` = the Spotlight toggle, and the detection types.
 */
export type DetectionType = 'human' | 'vehicle' | 'change';
export const DETECTION_TYPES: readonly DetectionType[] = ['human', 'vehicle', 'change'];
export type HoldSource = 'manual' | 'app' | DetectionType;
export type Output = 'strobe' | 'siren' | 'spotlight';
export const OUTPUTS: readonly Output[] = ['strobe', 'siren', 'spotlight'];

export interface Hold {
  source: HoldSource;
  /** Epoch ms when the hold ends; null = until released. */
  until: number | null;
  /** When the hold was (last) set: the most recent one decides the siren tone. */
  since: number;
  tone?: Tone;
  brightness?: number;
}

export class Holds {
  private readonly holds: Record<Output, Map<HoldSource, Hold>> = {
    strobe: new Map(),
    siren: new Map(),
    spotlight: new Map(),
  };

  set(output: Output, hold: Hold): void {
    const prev = this.holds[output].get(hold.source);
    const until = prev && hold.until !== null && prev.until !== null ? Math.max(prev.until, hold.until) : hold.until;
    this.holds[output].set(hold.source, { ...hold, until });
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
        if (h.until !== null && h.until <= now) {
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

  has(output: Output): boolean {
    return this.holds[output].size > 0;
  }

  /** The most recently set hold on an output (decides tone and brightness). */
  latest(output: Output, prefer?: HoldSource): Hold | undefined {
    const list = this.list(output);
    const preferred = prefer ? list.find((h) => h.source === prefer) : undefined;
    return preferred ?? list.reduce<Hold | undefined>((a, h) => (!a || h.since >= a.since ? h : a), undefined);
  }

  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const o of OUTPUTS) for (const h of this.holds[o].values()) if (h.until !== null && (next === undefined || h.until < next)) next = h.until;
    return next;
  }

  /** Holds that make up the "alarm" (everything but the app's spotlight toggle). */
  alarmHolds(): Hold[] {
    return OUTPUTS.flatMap((o) => this.list(o)).filter((h) => h.source !== 'app');
  }
}
