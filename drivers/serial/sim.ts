import { HardwareError } from '../errors.js';
import type { Timeline } from '../timeline.js';
import type { SerialLink } from './types.js';

export interface SimSerialPair {
  /** The daemon's end (the UART on the board). */
  host: SerialLink;
  /** The far end, where the twins of the receivers sit. */
  device: SerialLink;
}

/**
 * A null-modem cable in memory: what one end writes arrives at the other on the next tick, never
 * synchronously, so callers cannot come to rely on a reply arriving inside their own write call.
 * Bytes are recorded on the timeline from the host's side (host writes are `tx`, device writes
 * `rx`). Line timing (about 1 ms per byte at 9600 baud) is not modelled: it would force every
 * test to advance fake timers for each exchange, and no caller depends on it.
 */
export function createSimSerialPair(name: string, timeline: Timeline): SimSerialPair {
  const host = new SimEnd(name, 'tx', timeline);
  const device = new SimEnd(name, 'rx', timeline);
  host.peer = device;
  device.peer = host;
  return { host, device };
}

class SimEnd implements SerialLink {
  peer: SimEnd | undefined;
  private readonly listeners = new Set<(chunk: Uint8Array) => void>();
  private writing = false;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly dir: 'tx' | 'rx',
    private readonly timeline: Timeline,
  ) {}

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new HardwareError('EBADF', `serial port ${this.name} is closed`));
    // node-serialport's mock refuses overlapping writes too: callers must await each write.
    if (this.writing) return Promise.reject(new HardwareError('EBUSY', `serial port ${this.name}: overlapping write (await the previous one)`));
    const chunk = Uint8Array.from(bytes);
    this.writing = true;
    this.timeline.record({ kind: 'serial', port: this.name, dir: this.dir, bytes: [...chunk] });
    return new Promise((resolve) => {
      process.nextTick(() => {
        this.writing = false;
        // Bytes written while the far end is closed go out on the wire and are lost, as on RS-485.
        this.peer?.deliver(chunk);
        resolve();
      });
    });
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  private deliver(chunk: Uint8Array): void {
    if (this.closed) return;
    for (const l of [...this.listeners]) l(Uint8Array.from(chunk));
  }
}
