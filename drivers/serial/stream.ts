import { HardwareError } from '../errors.js';
import type { Timeline } from '../timeline.js';
import type { SerialLink } from './types.js';

export interface StreamLinkOptions {
  /** Records tx/rx bytes under the link's name. */
  timeline?: Timeline;
  /** Runs after each write is handed to the OS, e.g. tcdrain so a write resolves once sent. */
  drain?: () => Promise<void>;
  /** Releases the underlying port; by default both streams are destroyed. */
  close?: () => Promise<void>;
  onError?: (err: Error) => void;
}

export interface LinkStreams {
  readable: NodeJS.ReadableStream;
  /** The same object as `readable` for a Duplex such as a node-serialport port. */
  writable: NodeJS.WritableStream;
}

/**
 * A SerialLink over any byte streams: a node-serialport port (a Duplex), or the two tty streams
 * of a pty a test made with socat. Bytes arriving while nobody listens are dropped, as on a UART.
 */
export function createStreamLink(name: string, { readable, writable }: LinkStreams, opts: StreamLinkOptions = {}): SerialLink {
  const listeners = new Set<(chunk: Uint8Array) => void>();
  let writing = false;
  let closed = false;

  const onData = (data: Buffer | string): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    opts.timeline?.record({ kind: 'serial', port: name, dir: 'rx', bytes: [...chunk] });
    for (const l of [...listeners]) l(new Uint8Array(chunk));
  };
  const onError = (err: Error): void => opts.onError?.(err);
  readable.on('data', onData);
  readable.on('error', onError);
  if ((writable as unknown) !== readable) writable.on('error', onError);

  return {
    name,
    async write(bytes) {
      if (closed) throw new HardwareError('EBADF', `serial port ${name} is closed`);
      if (writing) throw new HardwareError('EBUSY', `serial port ${name}: overlapping write (await the previous one)`);
      writing = true;
      try {
        opts.timeline?.record({ kind: 'serial', port: name, dir: 'tx', bytes: [...bytes] });
        await new Promise<void>((resolve, reject) => {
          writable.write(Buffer.from(bytes), (err?: Error | null) => (err ? reject(err) : resolve()));
        });
        await opts.drain?.();
      } catch (err) {
        throw new HardwareError('EIO', `serial port ${name}: write failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      } finally {
        writing = false;
      }
    },
    onData(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      // The error listeners stay: a late error from a closing port must not crash the daemon.
      readable.off('data', onData);
      if (opts.close) {
        await opts.close();
      } else {
        for (const s of new Set<unknown>([readable, writable])) (s as { destroy?: () => void }).destroy?.();
      }
    },
  };
}
