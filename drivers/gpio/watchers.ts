import { HardwareError } from '../errors.js';
import type { Level } from './types.js';

/** What every GPIO backend throws for a line used after close (callers match on EBADF). */
export function lineClosed(line: number, name: string): HardwareError {
  return new HardwareError('EBADF', `GPIO line ${line} (${name}) is closed`);
}

/**
 * The watchers of one input line, as the hardware backends (sysfs, character device) share them:
 * watch() of a closed line is refused, listeners are told in order and may unsubscribe while
 * being told, and after close nobody is told again.
 */
export class LineWatchers {
  private readonly listeners = new Set<(level: Level) => void>();
  private isClosed = false;

  constructor(
    private readonly line: number,
    private readonly name: string,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  watch(listener: (level: Level) => void): () => void {
    if (this.isClosed) throw lineClosed(this.line, this.name);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  notify(level: Level): void {
    for (const l of [...this.listeners]) l(level);
  }

  /** Returns false when it was closed already (close() is idempotent for the backends). */
  close(): boolean {
    if (this.isClosed) return false;
    this.isClosed = true;
    this.listeners.clear();
    return true;
  }
}
