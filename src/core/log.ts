import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { redactDeep, redactText } from './redact.js';

export type { Logger };
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogLine = Record<string, unknown> & { level: number; time: number; component: string; msg?: string };
type LineListener = (line: LogLine) => void;

/**
 * Keeps the last lines in memory for `camctl logs` and fans them out to followers. Bounded: a
 * slow follower never makes the daemon hold more than `capacity` lines.
 */
export class LogRing {
  private readonly lines: LogLine[] = [];
  private readonly listeners = new Set<LineListener>();
  constructor(private readonly capacity = 1000) {}

  push(line: LogLine): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.shift();
    for (const l of this.listeners) {
      try {
        l(line);
      } catch {
        // A broken follower must not break logging.
      }
    }
  }

  recent(n = this.capacity): LogLine[] {
    return this.lines.slice(-n);
  }

  follow(listener: LineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface LogSetup {
  root: Logger;
  ring: LogRing;
  /** Every line carries a component name: this is the only way services get a logger. */
  forComponent(component: string): Logger;
  setLevel(level: LogLevel): void;
}

export function createLogging(opts: { level: LogLevel; destination?: NodeJS.WritableStream | null; ringSize?: number }): LogSetup {
  const ring = new LogRing(opts.ringSize ?? 1000);
  const ringStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        try {
          ring.push(JSON.parse(text) as LogLine);
        } catch {
          // pino only writes JSON; ignore anything else.
        }
      }
      cb();
    },
  });
  const streams: pino.StreamEntry[] = [{ level: 'trace', stream: ringStream }];
  if (opts.destination !== null) {
    streams.push({ level: 'trace', stream: opts.destination ?? pino.destination({ dest: 1, sync: true }) });
  }
  const root = pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.epochTime,
      // Every line, whoever writes it: URL secrets (credentials, stream keys, query values) redacted
      // in the fields and in the message (src/core/redact.ts), so a forgotten call cannot leak one.
      formatters: { log: (obj) => redactDeep(obj) },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a: unknown) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    pino.multistream(streams),
  );
  const children = new Map<string, Logger>();
  return {
    root,
    ring,
    forComponent(component) {
      let child = children.get(component);
      if (!child) {
        child = root.child({ component });
        children.set(component, child);
      }
      return child;
    },
    setLevel(level) {
      root.level = level;
      for (const c of children.values()) c.level = level;
    },
  };
}

/** A silent logging setup for unit tests that do not look at logs. */
export function silentLogging(): LogSetup {
  return createLogging({ level: 'trace', destination: null, ringSize: 200 });
}
