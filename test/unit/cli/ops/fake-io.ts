import type { Io } from '../../../../src/cli/ops/io.js';

/** An Io for tests: collects stdout (text and bytes) and stderr, answers questions from a list. */
export function fakeIo(o: { outTty?: boolean; inTty?: boolean; answers?: string[] } = {}): Io & { text(): string; bytes(): Buffer; errText(): string; asked: string[] } {
  const out: Buffer[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const answers = [...(o.answers ?? [])];
  return {
    out: {
      write: (chunk, cb) => {
        out.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
        cb?.(null);
        return true;
      },
    },
    err: { write: (s) => (err.push(s), true) },
    outTty: o.outTty ?? false,
    inTty: o.inTty ?? false,
    ask: (q) => {
      asked.push(q);
      return Promise.resolve(answers.shift() ?? '');
    },
    asked,
    text: () => Buffer.concat(out).toString('utf8'),
    bytes: () => Buffer.concat(out),
    errText: () => err.join(''),
  };
}
