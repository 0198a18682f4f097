import type { Clock } from './clock.js';

/**
 * What the simulated board did, in order, with timestamps from the injected clock: every GPIO
 * level change, every I2C register write and every byte on a UART. Tests assert on it ("the LED
 * blinked blue at 1 Hz for 3 s") and `camctl timeline` prints it.
 */
export type TimelineEntry =
  | {
      t: number;
      kind: 'gpio';
      name: string;
      line: number;
      /** Logical level (1 = active), the level the parts and the policy reason about. */
      value: 0 | 1;
      /** Electrical level on the pin: differs from `value` on an activeLow line. */
      physical?: 0 | 1;
      direction?: 'in' | 'out';
    }
  | {
      t: number;
      kind: 'i2c';
      bus: string;
      address: number;
      register: number | null;
      bytes: number[];
      dir: 'write' | 'read';
      /** Nobody acknowledged the address: the transfer failed with EREMOTEIO. */
      nack?: boolean;
    }
  | { t: number; kind: 'serial'; port: string; dir: 'tx' | 'rx'; bytes: number[] };

export type TimelineKind = TimelineEntry['kind'];
// Distributes Omit over the union so each variant keeps its own fields.
export type TimelineRecord = TimelineEntry extends infer E ? (E extends TimelineEntry ? Omit<E, 't'> : never) : never;

export interface TimelineFilter {
  kind?: TimelineKind;
  /** GPIO line name, I2C bus name or serial port name. */
  source?: string;
  /** Inclusive bounds on `t`. */
  from?: number;
  to?: number;
}

export interface Edge {
  t: number;
  value: 0 | 1;
}

export interface BlinkStats {
  rises: number;
  falls: number;
  /** Median rise-to-rise interval; null with fewer than two rises. */
  periodMs: number | null;
  /** Median of high time / period over complete periods; null without one. */
  dutyCycle: number | null;
  /** The level held through the whole window when there was no edge in it; else null. */
  steadyLevel: 0 | 1 | null;
}

export const DEFAULT_TIMELINE_CAPACITY = 100_000;

export function sourceOf(e: TimelineEntry): string {
  return e.kind === 'gpio' ? e.name : e.kind === 'i2c' ? e.bus : e.port;
}

/**
 * A bounded record of board activity. Bounded because the sim daemon may run for days: when full
 * it drops the oldest entry and counts the drop, so a reader can tell the history is partial.
 */
export class Timeline {
  // A ring: `buf[head]` is the oldest entry once the buffer is full.
  private readonly buf: TimelineEntry[] = [];
  private head = 0;
  private droppedCount = 0;
  private readonly listeners = new Set<(e: TimelineEntry) => void>();
  readonly capacity: number;

  constructor(
    private readonly clock: Clock,
    opts: { capacity?: number } = {},
  ) {
    this.capacity = Math.max(1, Math.floor(opts.capacity ?? DEFAULT_TIMELINE_CAPACITY));
  }

  record(r: TimelineRecord): TimelineEntry {
    const entry = { ...r, t: this.clock.now() };
    if (this.buf.length < this.capacity) {
      this.buf.push(entry);
    } else {
      this.buf[this.head] = entry;
      this.head = (this.head + 1) % this.capacity;
      this.droppedCount++;
    }
    for (const l of this.listeners) {
      try {
        l(entry);
      } catch {
        // A broken listener must not make a GPIO write throw.
      }
    }
    return entry;
  }

  /** Entries oldest first, optionally filtered by fields or by a predicate. */
  entries(filter?: TimelineFilter | ((e: TimelineEntry) => boolean)): TimelineEntry[] {
    const pred = typeof filter === 'function' ? filter : filter ? matcher(filter) : undefined;
    const out: TimelineEntry[] = [];
    const n = this.buf.length;
    for (let i = 0; i < n; i++) {
      const e = this.buf[(this.head + i) % n]!;
      if (!pred || pred(e)) out.push(e);
    }
    return out;
  }

  /** Entries with `t >= t`. */
  since(t: number): TimelineEntry[] {
    return this.entries({ from: t });
  }

  get size(): number {
    return this.buf.length;
  }

  /** Entries dropped to stay within capacity since the last clear(). */
  get dropped(): number {
    return this.droppedCount;
  }

  clear(): void {
    this.buf.length = 0;
    this.head = 0;
    this.droppedCount = 0;
  }

  onRecord(listener: (e: TimelineEntry) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Logical level of a GPIO line at time t; undefined before its first entry. */
  levelAt(name: string, t: number): 0 | 1 | undefined {
    let level: 0 | 1 | undefined;
    for (const e of this.gpio(name)) {
      if (e.t > t) break;
      level = e.value;
    }
    return level;
  }

  /** Level changes of a GPIO line within [from, to]; a repeated level is not an edge. */
  edges(name: string, from = -Infinity, to = Infinity): Edge[] {
    const out: Edge[] = [];
    let prev: 0 | 1 | undefined;
    for (const e of this.gpio(name)) {
      if (e.t > to) break;
      if (prev !== undefined && e.value !== prev && e.t >= from) out.push({ t: e.t, value: e.value });
      prev = e.value;
    }
    return out;
  }

  blinkStats(name: string, from: number, to: number): BlinkStats {
    return blinkStatsOf(this.edges(name, from, to), () => this.levelAt(name, from));
  }

  private gpio(name: string): Extract<TimelineEntry, { kind: 'gpio' }>[] {
    return this.entries((e) => e.kind === 'gpio' && e.name === name) as Extract<TimelineEntry, { kind: 'gpio' }>[];
  }
}

function matcher(f: TimelineFilter): (e: TimelineEntry) => boolean {
  return (e) =>
    (f.kind === undefined || e.kind === f.kind) &&
    (f.source === undefined || sourceOf(e) === f.source) &&
    (f.from === undefined || e.t >= f.from) &&
    (f.to === undefined || e.t <= f.to);
}

/** Blink statistics from a list of edges; pure so it can be checked on a synthetic wave. */
export function blinkStatsOf(edges: readonly Edge[], levelAtStart: () => 0 | 1 | undefined): BlinkStats {
  const rises = edges.filter((e) => e.value === 1).map((e) => e.t);
  const falls = edges.filter((e) => e.value === 0).map((e) => e.t);
  const periods: number[] = [];
  const duties: number[] = [];
  for (let i = 0; i + 1 < rises.length; i++) {
    const rise = rises[i]!;
    const next = rises[i + 1]!;
    periods.push(next - rise);
    const fall = falls.find((f) => f > rise && f <= next);
    // A rise without a fall before the next rise cannot come from real edges; skip rather than guess.
    if (fall !== undefined && next > rise) duties.push((fall - rise) / (next - rise));
  }
  return {
    rises: rises.length,
    falls: falls.length,
    periodMs: median(periods),
    dutyCycle: median(duties),
    steadyLevel: edges.length === 0 ? (levelAtStart() ?? null) : null,
  };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
