import type { Clock, TimerHandle } from '../clock.js';
import { HardwareError } from '../errors.js';
import type { Timeline } from '../timeline.js';
import type { DigitalIn, DigitalOut, GpioChip, InputOptions, Level, OutputOptions } from './types.js';
import { lineClosed } from './watchers.js';

export interface SimGpioOptions {
  clock: Clock;
  timeline: Timeline;
  /** Lines (by number or name) that refuse to open, as a missing or dead part would. */
  failLines?: Iterable<number | string>;
}

export interface SimLineInfo {
  name: string;
  line: number;
  direction: 'in' | 'out';
  /** Logical level (debounced for an input). */
  value: Level;
  physical: Level;
}

interface LineState {
  readonly name: string;
  readonly line: number;
  readonly direction: 'in' | 'out';
  readonly activeLow: boolean;
  value: Level;
  /** Inputs: the level the test drives, before debouncing. */
  raw: Level;
  readonly debounceMs: number;
  timer: TimerHandle | undefined;
  readonly listeners: Set<(level: Level) => void>;
  closed: boolean;
}

/**
 * The simulated GPIO chip: a real implementation of the interface that keeps every line's state
 * and puts each level change on the timeline. Only changes are recorded, not repeated writes of
 * the same level: the timeline is a record of edges, and blink assertions must not depend on
 * how often a policy re-asserts the level it already shows. The first entry of each line is
 * its level at open, so `levelAt` has a starting point.
 */
export class SimGpioChip implements GpioChip {
  private readonly lines = new Map<number, LineState>();
  private readonly byName = new Map<string, number>();
  /** Input levels driven before the line was opened (a button held at power-on). */
  private readonly preset = new Map<number, Level>();
  private readonly failing: Set<number | string>;

  constructor(private readonly opts: SimGpioOptions) {
    this.failing = new Set(opts.failLines ?? []);
  }

  openOutput(name: string, line: number, opts: OutputOptions = {}): DigitalOut {
    const st = this.claim(name, line, 'out', opts.activeLow ?? false, 0);
    st.value = opts.initial ?? 0;
    this.record(st);
    const write = (level: Level): void => this.write(st, level);
    return {
      name,
      line,
      write,
      read: () => this.live(st).value,
      close: () => {
        if (st.closed) return;
        write(0);
        this.release(st);
      },
    };
  }

  openInput(name: string, line: number, opts: InputOptions = {}): DigitalIn {
    const st = this.claim(name, line, 'in', opts.activeLow ?? false, opts.debounceMs ?? 0);
    st.value = st.raw = this.preset.get(line) ?? 0;
    this.record(st);
    return {
      name,
      line,
      read: () => this.live(st).value,
      watch: (listener) => {
        this.live(st).listeners.add(listener);
        return () => {
          st.listeners.delete(listener);
        };
      },
      close: () => this.release(st),
    };
  }

  /**
   * Drives an input to a logical level (1 = active, e.g. button pressed) as the outside world
   * would. The change reaches watchers only once it has held for the line's debounce time on
   * the injected clock. A line not opened yet keeps the level for when it is.
   */
  setInput(lineOrName: number | string, level: Level): void {
    checkLevel(level);
    const line = typeof lineOrName === 'number' ? lineOrName : this.byName.get(lineOrName);
    if (line === undefined) throw new HardwareError('ENOENT', `GPIO input "${String(lineOrName)}" is not open`);
    const st = this.lines.get(line);
    if (!st) {
      this.preset.set(line, level);
      return;
    }
    if (st.direction !== 'in') throw new HardwareError('EINVAL', `GPIO line ${line} (${st.name}) is an output, it cannot be driven from outside`);
    if (level === st.raw) return;
    st.raw = level;
    this.opts.clock.clearTimeout(st.timer);
    st.timer = undefined;
    if (st.debounceMs === 0) this.settle(st);
    else st.timer = this.opts.clock.setTimeout(() => this.settle(st), st.debounceMs);
  }

  /** Logical level of an open line. */
  level(lineOrName: number | string): Level {
    return this.state(lineOrName).value;
  }

  isOpen(lineOrName: number | string): boolean {
    const line = typeof lineOrName === 'number' ? lineOrName : this.byName.get(lineOrName);
    return line !== undefined && this.lines.has(line);
  }

  /** Every open line, for status output and tests. */
  snapshot(): SimLineInfo[] {
    return [...this.lines.values()].map((st) => ({
      name: st.name,
      line: st.line,
      direction: st.direction,
      value: st.value,
      physical: physical(st),
    }));
  }

  close(): void {
    for (const st of [...this.lines.values()]) {
      if (st.direction === 'out') this.write(st, 0);
      this.release(st);
    }
  }

  private claim(name: string, line: number, direction: 'in' | 'out', activeLow: boolean, debounceMs: number): LineState {
    if (!Number.isInteger(line) || line < 0) throw new HardwareError('EINVAL', `GPIO line ${line} (${name}): not a valid line number`);
    const holder = this.lines.get(line);
    // The kernel answers EBUSY when a line is requested twice; imitate it so a wiring mistake shows up in CI.
    if (holder) throw new HardwareError('EBUSY', `GPIO line ${line} (${name}) is busy: already claimed as "${holder.name}"`);
    const other = this.byName.get(name);
    if (other !== undefined) throw new HardwareError('EINVAL', `GPIO name "${name}" is already used by line ${other}`);
    if (this.failing.has(line) || this.failing.has(name)) {
      throw new HardwareError('EIO', `GPIO line ${line} (${name}): failed to open (simulated fault)`);
    }
    const st: LineState = { name, line, direction, activeLow, value: 0, raw: 0, debounceMs, timer: undefined, listeners: new Set(), closed: false };
    this.lines.set(line, st);
    this.byName.set(name, line);
    return st;
  }

  private release(st: LineState): void {
    if (st.closed) return;
    st.closed = true;
    this.opts.clock.clearTimeout(st.timer);
    st.timer = undefined;
    st.listeners.clear();
    this.lines.delete(st.line);
    this.byName.delete(st.name);
  }

  private write(st: LineState, level: Level): void {
    checkLevel(level);
    this.live(st);
    if (level === st.value) return;
    st.value = level;
    this.record(st);
  }

  private settle(st: LineState): void {
    st.timer = undefined;
    if (st.closed || st.raw === st.value) return;
    st.value = st.raw;
    this.record(st);
    for (const l of [...st.listeners]) l(st.value);
  }

  private record(st: LineState): void {
    this.opts.timeline.record({ kind: 'gpio', name: st.name, line: st.line, value: st.value, physical: physical(st), direction: st.direction });
  }

  private live(st: LineState): LineState {
    if (st.closed) throw lineClosed(st.line, st.name);
    return st;
  }

  private state(lineOrName: number | string): LineState {
    const line = typeof lineOrName === 'number' ? lineOrName : this.byName.get(lineOrName);
    const st = line === undefined ? undefined : this.lines.get(line);
    if (!st) throw new HardwareError('ENOENT', `GPIO line "${String(lineOrName)}" is not open`);
    return st;
  }
}

function physical(st: LineState): Level {
  return st.activeLow ? ((1 - st.value) as Level) : st.value;
}

function checkLevel(level: unknown): asserts level is Level {
  if (level !== 0 && level !== 1) throw new HardwareError('EINVAL', `GPIO level must be 0 or 1, got ${String(level)}`);
}
