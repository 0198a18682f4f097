import { createInterface } from 'node:readline/promises';

/**
 * What an operation reads and writes, so tests drive it without a terminal: stdout (text or raw
 * bytes), stderr, whether each end is a terminal, and a question to the person at the keyboard.
 */
export interface Io {
  out: { write(chunk: string | Uint8Array, cb?: (err?: Error | null) => void): boolean };
  err: { write(s: string): boolean };
  /** stdout is a terminal: progress on one line, no binary, no base64. */
  outTty: boolean;
  /** stdin is a terminal: a person can answer a question. */
  inTty: boolean;
  /** Asks on stderr, returns the answer line. */
  ask(question: string): Promise<string>;
}

export function processIo(): Io {
  return {
    out: process.stdout,
    err: process.stderr,
    outTty: process.stdout.isTTY === true,
    inTty: process.stdin.isTTY === true,
    ask: async (question) => {
      // On stderr: a script reading stdout (`--json`) gets only the result.
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}

type Obj = Record<string, unknown>;
export const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
/** A JSON scalar as text ('' for anything else): replies arrive as untyped JSON. */
export const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Writes all of `chunk` to `io.out` and waits until it is handed to the OS (raw bytes on stdout). */
export function writeOut(io: Io, chunk: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    io.out.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}
