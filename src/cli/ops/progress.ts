import { ControlClient } from '../client.js';
import type { Progress } from '../../domain/progress.js';
import { obj, type Io } from './io.js';

type Obj = Record<string, unknown>;

/**
 * One progress line: on a terminal rewritten in place (`\r`), cleared when done; otherwise a line
 * per phase (`key`), so a log or a CI job shows each step once and no carriage returns.
 */
export class ProgressLine {
  private last = '';
  private shown = '';
  private width = 0;

  constructor(
    private readonly io: Io,
    private readonly tty: boolean,
  ) {}

  show(text: string, key = text): void {
    if (this.tty) {
      if (text === this.shown) return;
      this.shown = text;
      this.width = Math.max(this.width, text.length);
      this.io.out.write(`\r${text.padEnd(this.width)}`);
    } else if (key !== this.last) this.io.out.write(`${text}\n`);
    this.last = key;
  }

  /** Leaves the terminal line empty for what comes next. */
  done(): void {
    if (this.tty && this.width) this.io.out.write(`\r${' '.repeat(this.width)}\r`);
    this.width = 0;
    this.shown = '';
  }
}

/** `shot 3/8`, `erasing`: what a Progress from the state says, in a few words. */
export function progressText(p: Progress): string {
  return p.step !== undefined && p.steps !== undefined ? `${p.phase} ${p.step}/${p.steps}` : p.phase;
}

/** A Progress read from untyped state JSON; undefined when the operation is not (or no longer) running. */
export function asProgress(v: unknown): Progress | undefined {
  const o = obj(v);
  if (typeof o.phase !== 'string' || typeof o.startedAt !== 'number') return undefined;
  return { phase: o.phase, startedAt: o.startedAt, ...(typeof o.step === 'number' && { step: o.step }), ...(typeof o.steps === 'number' && { steps: o.steps }) };
}

/**
 * Runs `request` while polling `status` on a second connection (progress lives in the state:
 * src/domain/progress.ts) and handing each state to `onState`. Polling stops with the request.
 */
export async function withStatePolling<T>(sock: string, everyMs: number, onState: (st: Obj) => void, request: () => Promise<T>): Promise<T> {
  let stop = false;
  let wake = (): void => undefined;
  const poller = (async () => {
    while (!stop) {
      // A connection per poll: a ControlClient keeps a listener per request it made.
      try {
        const c = await ControlClient.connect(sock, 2000);
        try {
          const r = await c.request('status', {});
          if (r.ok && !stop) onState(obj(r.result));
        } finally {
          c.close();
        }
      } catch {
        // No progress is no failure: the request itself says how it ended.
      }
      if (!stop) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, everyMs);
          wake = () => {
            clearTimeout(t);
            res();
          };
        });
      }
    }
  })();
  try {
    return await request();
  } finally {
    stop = true;
    wake();
    await poller;
  }
}
