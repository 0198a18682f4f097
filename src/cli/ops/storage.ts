import { ControlClient, type Reply } from '../client.js';
import { bold, green, kv, red } from '../format.js';
import { asProgress, ProgressLine, withStatePolling } from './progress.js';
import { kb } from './jpeg.js';
import { num, obj, processIo, str, type Io } from './io.js';

type Obj = Record<string, unknown>;

export interface StorageInitialiseOptions {
  /** `--yes`: erase without asking (scripts; required when stdin is not a terminal). */
  yes: boolean;
  json: boolean;
  io?: Io;
}

const size = (n: number | undefined): string => (n === undefined ? '' : n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : kb(n));

/** What the daemon's first answer says the card is and what would go, as lines for a person. */
export function describeCardLines(card: Obj): string[] {
  const rows: [string, string][] = [];
  const what = [str(card.status), size(num(card.totalBytes)), card.fsType ? `${str(card.fsType)} on ${str(card.device)}` : ''].filter(Boolean).join(', ');
  rows.push(['card', what || 'unknown']);
  if (card.cardId) rows.push(['card id', str(card.cardId)]);
  const files = num(card.files) ?? 0;
  const top = Array.isArray(card.top) ? card.top.map(str) : [];
  const more = (num(card.topCount) ?? top.length) - top.length;
  rows.push([
    'will erase',
    files === 0 && top.length === 0
      ? 'nothing: the card is empty'
      : `${card.truncated ? 'more than ' : ''}${files} file${files === 1 ? '' : 's'}, ${size(num(card.bytes) ?? 0)}${top.length ? `: ${top.join(', ')}${more > 0 ? ` and ${more} more` : ''}` : ''}`,
  ]);
  return kv(rows, 2);
}

/**
 * `camctl storage initialise [--yes]`: the two-step confirmation read as one. The first request
 * brings the token and what the card is (the `confirmation_required` error's `confirm` and
 * `details` fields); camctl shows that, asks `Erase the card? [y/N]` on a terminal (no terminal
 * and no --yes: refuses), sends the token back and shows the phases from state.storage.initialise
 * while the card is erased, then the result.
 */
export async function runStorageInitialise(sock: string, opts: StorageInitialiseOptions): Promise<number> {
  const io = opts.io ?? processIo();
  // With --json stdout carries only the result; everything for the person goes to stderr.
  const say = (s: string): boolean => (opts.json ? io.err.write(s) : io.out.write(s));
  const client = await ControlClient.connect(sock);
  let first: Reply;
  try {
    first = await client.request('storage.initialise', {});
  } finally {
    client.close();
  }
  if (first.ok || first.error.code !== 'confirmation_required' || !first.error.confirm) {
    // Not asking for a confirmation: no card, or a daemon that did something else.
    if (opts.json) io.out.write(`${JSON.stringify(first)}\n`);
    else if (!first.ok) io.err.write(`camctl: storage initialise: ${first.error.message}\n`);
    return first.ok ? 0 : 1;
  }
  const token = first.error.confirm;
  say(`${describeCardLines(obj(obj(first.error.details).card)).join('\n')}\n`);
  if (!opts.yes) {
    if (!io.inTty) {
      io.err.write('camctl: storage initialise erases the card: confirm with --yes (stdin is not a terminal to ask on)\n');
      return 1;
    }
    const answer = (await io.ask(`${bold('Erase the card?')} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      say('not erased\n');
      return 1;
    }
  }
  const line = new ProgressLine(io, io.outTty && !opts.json);
  const reply = await withStatePolling(
    sock,
    250,
    (st) => {
      const p = asProgress(obj(st.storage).initialise);
      if (p && !opts.json) line.show(p.phase);
    },
    () => ControlClient.connect(sock).then(async (c) => {
      try {
        return await c.request('storage.initialise', { confirm: token });
      } finally {
        c.close();
      }
    }),
  );
  line.done();
  if (opts.json) {
    io.out.write(`${JSON.stringify(reply)}\n`);
    return reply.ok ? 0 : 1;
  }
  if (!reply.ok) {
    const late = reply.error.code === 'invalid_args' && reply.error.path === 'confirm';
    io.err.write(`camctl: ${red('not initialised')}: ${reply.error.message}${late ? ' (the answer took too long: run it again)' : ''}\n`);
    return 1;
  }
  const r = obj(reply.result);
  io.out.write(`${green('card initialised')}: ${str(r.status)}, ${size(num(r.freeBytes))} free of ${size(num(r.totalBytes))}, card id ${str(r.cardId)}\n`);
  return 0;
}
