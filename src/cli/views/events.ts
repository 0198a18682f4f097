import { DETECTION_TYPES } from '../../domain/types.js';
import { clockOf, dim, red, scalar, yellow } from '../format.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});

/**
 * The episode updates `events -f` folds: exact types, listed from the domain's detection types
 * (no parsing of type strings outside src/cloud, test/unit/lint/events.test.ts).
 */
const UPDATES = new Set<string>(DETECTION_TYPES.map((t) => `${t}.update`));
const ENDS = new Set<string>(DETECTION_TYPES.map((t) => `${t}.end`));
const STARTS = new Set<string>(DETECTION_TYPES.map((t) => `${t}.start`));

/**
 * `camctl events -f`, one line per event: local time, lens, type, score, short episode id, and
 * what else there is as short `key=value` text. An episode's `*.update`s (several a second) are
 * counted, not printed, unless `verbose`; the episode's end line says how many there were.
 */
export class EventFeed {
  private readonly folded = new Map<string, number>();

  constructor(private readonly verbose: boolean) {}

  /** The line to print for an event, or undefined when it is folded. */
  line(e: Obj): string | undefined {
    const type = scalar(e.type);
    const data = obj(e.data);
    const episode = typeof data.episodeId === 'string' ? data.episodeId : undefined;
    if (UPDATES.has(type) && !this.verbose) {
      if (episode) this.folded.set(episode, (this.folded.get(episode) ?? 0) + 1);
      return undefined;
    }
    let tail = '';
    if (ENDS.has(type) && episode) {
      const n = this.folded.get(episode) ?? 0;
      this.folded.delete(episode);
      if (n) tail = dim(` (${n} update${n === 1 ? '' : 's'})`);
    }
    return formatEvent(e) + tail;
  }
}

const SHOWN = new Set(['episodeId', 'score', 'box', 'startedAt', 'lastSeen', 'clip']);

export function formatEvent(e: Obj, cols = 80): string {
  const data = obj(e.data);
  const type = scalar(e.type);
  const time = clockOf(Number(e.ts)).slice(0, 12);
  const lens = (typeof e.lens === 'string' ? e.lens : '-').padEnd(4);
  const typeText = STARTS.has(type) ? yellow(type.padEnd(17)) : e.kind === 'error' || e.kind === 'security' ? red(type.padEnd(17)) : type.padEnd(17);
  const score = typeof data.score === 'number' ? data.score.toFixed(2) : '    ';
  const episode = typeof data.episodeId === 'string' ? data.episodeId.slice(0, 8) : '';
  const head = `${time} ${lens} ${typeText} ${score}${episode ? ` ${episode}` : ''}`;
  const extra = Object.entries(data)
    .filter(([k, v]) => !SHOWN.has(k) && v !== null && typeof v !== 'object')
    // An epoch in ms (presenceUntil, offAt…) reads as a clock time.
    .map(([k, v]) => `${k}=${typeof v === 'number' && v > 1e12 ? clockOf(v).slice(0, 8) : scalar(v)}`)
    .join(' ');
  const clockNote = e.clockSynced === false ? ' (clock not synced)' : '';
  const rest = `${extra}${clockNote}`;
  if (!rest) return head;
  // One line: what does not fit in 80 columns is cut, with an ellipsis.
  const room = cols - head.replace(/\u001b\[[0-9;]*m/g, '').length - 1;
  return room > 4 ? `${head} ${rest.length > room ? `${rest.slice(0, room - 1)}…` : rest}` : head;
}
