import { patchFromPath } from '../config/merge.js';
import { intFlag, parseSince, UsageError, type Options, type Values } from './args.js';
import { ControlClient, type Reply } from './client.js';
import { followStream, LogDedup } from './follow.js';
import { formatLogLine, formatTimelineEntry, scalar, setColour, setDisplayZone, tree } from './format.js';
import { runIdentity } from './ops/identity.js';
import { runSnapshot } from './ops/snapshot.js';
import { runStorageInitialise } from './ops/storage.js';
import { runUpload } from './ops/upload.js';
import { runView360 } from './ops/view360.js';
import { parseTime, runRecordingsGet, runRecordingsList } from './recordings.js';
import { runUpdate } from './update.js';
import { EventFeed } from './views/events.js';
import { formatLed, formatStatus } from './views/status.js';

/** What a command gets: the socket, `--json`, and its own parsed flags and words. */
export interface Invocation {
  socket: string;
  json: boolean;
  values: Values;
  positionals: string[];
}

/** One camctl command: its synopsis and one-line summary (the help), its options (parseArgs, strict) and what it does. */
export interface Verb {
  usage: string;
  summary?: string;
  options?: Options;
  run(inv: Invocation): Promise<number>;
}

/**
 * Daemon argument names → the flag the user typed, for `invalid_args` errors that get past
 * camctl's own checks (e.g. a newer daemon's tighter bound).
 */
type FlagMap = Record<string, string>;

/** Prints a reply: `--json` as the daemon sent it, else `render(result)`; an error on stderr, exit 1. */
export function printReply(reply: Reply, json: boolean, render: (result: unknown) => string = defaultRender, flags: FlagMap = {}): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    return reply.ok ? 0 : 1;
  }
  if (!reply.ok) {
    const e = reply.error;
    const flag = e.path ? flags[e.path] : undefined;
    const where = flag ? `${flag}: ` : '';
    const at = !flag && e.path && !e.message.startsWith(e.path) ? ` (at ${e.path})` : '';
    process.stderr.write(`camctl: ${e.code}: ${where}${flag && e.path ? e.message.replace(new RegExp(`^${e.path}: `), '') : e.message}${at}\n`);
    return 1;
  }
  process.stdout.write(`${render(reply.result)}\n`);
  return 0;
}

/** A scalar as it is (a string bare, `40` for a number); an object or array as an indented tree. */
function defaultRender(result: unknown): string {
  if (typeof result === 'string') return result;
  if (typeof result !== 'object' || result === null) return JSON.stringify(result);
  return tree(result).join('\n');
}

const asJson = (result: unknown): string => JSON.stringify(result, null, 2);

async function request(socket: string, cmd: string, args: Record<string, unknown>): Promise<Reply> {
  const client = await ControlClient.connect(socket);
  try {
    return await client.request(cmd, args);
  } finally {
    client.close();
  }
}

/** Times people read are shown in device.timezone; --json output keeps the UTC epoch ms. */
async function useDeviceZone(socket: string): Promise<void> {
  const tz = await request(socket, 'config.get', { path: 'device.timezone' }).catch(() => undefined);
  if (tz?.ok && typeof tz.result === 'string') setDisplayZone(tz.result);
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A one-shot command with fixed words: `simple(['reboot'], () => ({}))`. */
function simple(usage: [string, string?], cmd: string, args: (p: string[]) => Record<string, unknown>, render?: (r: unknown) => string, flags?: FlagMap): Verb {
  return { usage: usage[0], summary: usage[1], run: async (inv) => printReply(await request(inv.socket, cmd, args(inv.positionals)), inv.json, render, flags) };
}

function noWords(verb: string, p: string[]): void {
  if (p.length) throw new UsageError(`camctl ${verb} takes no words (got "${p.join(' ')}")`);
}

/** Ctrl-C ends a follow cleanly (exit 0). */
function interrupt(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  return ac.signal;
}

const LOG_FLAGS: FlagMap = { backlog: '-n', level: '--level', component: '--component' };

async function logs(inv: Invocation): Promise<number> {
  noWords('logs', inv.positionals);
  const n = intFlag(inv.values.lines, '-n', 1, 1000) ?? 50;
  const args = { ...(typeof inv.values.level === 'string' && { level: inv.values.level }), ...(typeof inv.values.component === 'string' && { component: inv.values.component }), backlog: n };
  if (!inv.json) await useDeviceZone(inv.socket);
  const print = (l: unknown): void => void process.stdout.write(`${inv.json ? JSON.stringify(l) : formatLogLine(l as Record<string, unknown>)}\n`);
  if (!inv.values.follow) {
    // Not following: the backlog, then hang up.
    const lines: unknown[] = [];
    const client = await ControlClient.connect(inv.socket);
    const reply = await client.request('logs.follow', args, (l) => lines.push(l));
    await new Promise((r) => setTimeout(r, 50));
    client.close();
    if (!reply.ok) return printReply(reply, inv.json, undefined, LOG_FLAGS);
    for (const l of lines) print(l);
    return 0;
  }
  const dedup = new LogDedup();
  // After a reconnect: the new daemon's whole ring (its boot), minus lines already shown.
  const r = await followStream({
    socket: inv.socket,
    cmd: 'logs.follow',
    args,
    reconnectArgs: { ...args, backlog: 1000 },
    onItem: (l) => dedup.fresh(l) && print(l),
    notice: (t) => void process.stderr.write(t),
    signal: interrupt(),
  });
  return typeof r === 'number' ? r : printReply(r, inv.json, undefined, LOG_FLAGS);
}

async function events(inv: Invocation): Promise<number> {
  noWords('events', inv.positionals);
  if (!inv.json) await useDeviceZone(inv.socket);
  const feed = new EventFeed(inv.values.verbose === true);
  const r = await followStream({
    socket: inv.socket,
    cmd: 'events.follow',
    args: {},
    onItem: (e) => {
      if (inv.json) return void process.stdout.write(`${JSON.stringify(e)}\n`);
      const line = feed.line(e as Record<string, unknown>);
      if (line !== undefined) process.stdout.write(`${line}\n`);
    },
    notice: (t) => void process.stderr.write(t),
    signal: interrupt(),
  });
  return typeof r === 'number' ? r : printReply(r, inv.json);
}

async function config(inv: Invocation): Promise<number> {
  const [sub, path, value, ...extra] = inv.positionals;
  if (extra.length) throw new UsageError(`too many words for camctl config ${sub}`);
  if (sub === 'get') return printReply(await request(inv.socket, 'config.get', path ? { path } : {}), inv.json);
  if (sub === 'set') {
    if (!path || value === undefined) throw new UsageError('usage: camctl config set <path> <value>');
    if (!path.split('.').some(Boolean)) throw new UsageError('config set needs a dotted path, e.g. detection.human.sensitivity');
    return printReply(await request(inv.socket, 'config.set', { patch: patchFromPath(path, parseValue(value)) }), inv.json);
  }
  if (sub === 'patch') {
    const patch = parseValue(path ?? '');
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new UsageError('config patch needs a JSON object');
    return printReply(await request(inv.socket, 'config.set', { patch }), inv.json);
  }
  throw new UsageError('usage: camctl config get|set|patch …');
}

async function timeline(inv: Invocation): Promise<number> {
  noWords('timeline', inv.positionals);
  const since = typeof inv.values.since === 'string' ? parseSince(inv.values.since, Date.now()) : undefined;
  const limit = intFlag(inv.values.lines, '-n', 1, 100_000);
  const kind = inv.values.kind;
  if (kind !== undefined && kind !== 'gpio' && kind !== 'i2c' && kind !== 'serial') throw new UsageError(`--kind must be gpio, i2c or serial (got ${scalar(kind)})`);
  if (!inv.json) await useDeviceZone(inv.socket);
  const reply = await request(inv.socket, 'sim.timeline', { ...(since !== undefined && { since }), ...(kind && { kind }), ...(limit && { limit }) });
  return printReply(reply, inv.json, (r) => (r as Record<string, unknown>[]).map(formatTimelineEntry).join('\n') || '(nothing on the timeline in that span)', { since: '--since', limit: '-n', kind: '--kind' });
}

async function factoryReset(inv: Invocation): Promise<number> {
  noWords('factory-reset', inv.positionals);
  const client = await ControlClient.connect(inv.socket);
  try {
    const first = await client.request('factory-reset', {});
    if (first.ok || first.error.code !== 'confirmation_required') return printReply(first, inv.json);
    // camctl ships in the same release as the daemon it talks to: the token is in error.confirm.
    const token = first.error.confirm;
    if (!inv.values.yes) {
      process.stderr.write('camctl: factory reset erases every setting and credential. Re-run with --yes to confirm.\n');
      return 1;
    }
    return printReply(await client.request('factory-reset', { confirm: token }), inv.json);
  } finally {
    client.close();
  }
}

const RECORDINGS_USAGE = `usage: camctl recordings list --lens L [--since 1h|ISO|ms] [--to T] [-n N]
       camctl recordings get --lens L --from T --to T -o FILE.ts
       camctl recordings upload --lens L --from T --to T --url URL`;

async function recordings({ socket, json, values: v, positionals }: Invocation): Promise<number> {
  const [sub, ...more] = positionals;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k]) : undefined);
  const lens = str('lens');
  if (more.length || !lens) throw new UsageError(RECORDINGS_USAGE);
  if (sub === 'list') {
    if (!json) await useDeviceZone(socket);
    const since = str('since');
    const to = str('to');
    const limit = intFlag(v.lines, '-n', 1, 10_000);
    return runRecordingsList(socket, { lens, ...(since !== undefined && { from: parseSince(since, Date.now()) }), ...(to !== undefined && { to: parseTime(to, '--to') }), ...(limit !== undefined && { limit }), json });
  }
  const from = str('from');
  const to = str('to');
  if (!from || !to) throw new UsageError(RECORDINGS_USAGE);
  if (sub === 'get') {
    const out = str('output');
    if (!out) throw new UsageError(RECORDINGS_USAGE);
    return runRecordingsGet(socket, lens, parseTime(from, '--from'), parseTime(to, '--to'), out, json);
  }
  const url = str('url');
  if (sub === 'upload' && url) return runUpload(socket, { lens, from: parseTime(from, '--from'), to: parseTime(to, '--to'), url, json });
  throw new UsageError(RECORDINGS_USAGE);
}

/** The command table: camctl.ts dispatches on it, the help is made from it. Add a verb here. */
export const VERBS: Record<string, Verb> = {
  status: { usage: 'status', summary: 'the live state, section by section', run: async (inv) => {
    noWords('status', inv.positionals);
    if (!inv.json) await useDeviceZone(inv.socket);
    return printReply(await request(inv.socket, 'status', {}), inv.json, (r) => formatStatus(r as Record<string, unknown>));
  } },
  led: simple(['led', 'the LED, why, and every condition that holds'], 'led.get', (p) => (noWords('led', p), {}), (r) => formatLed(r as Record<string, unknown>)),
  logs: {
    usage: 'logs [-f] [-n 1..1000] [--level L] [--component C]', summary: 'the structured log',
    options: { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, level: { type: 'string' }, component: { type: 'string' } },
    run: logs,
  },
  events: { usage: 'events [-f] [-v]', summary: 'follow camera events (-v: episode updates too)', options: { follow: { type: 'boolean', short: 'f' }, verbose: { type: 'boolean', short: 'v' } }, run: events },
  set: simple(['set <output> on|off [pct]', 'strobeRed | strobeBlue | siren | spotlight'], 'output.set', ([output, onoff, pct, ...more]) => {
    if (!output || (onoff !== 'on' && onoff !== 'off') || more.length) throw new UsageError('usage: camctl set <output> on|off [brightness%]');
    return { output, on: onoff === 'on', ...(pct !== undefined && { brightness: Number(pct) }) };
  }),
  'led-test': simple(['led-test <red|blue|off> [solid|slow|fast] [seconds]'], 'led.test', ([color, mode, seconds]) => {
    if (!color) throw new UsageError('usage: camctl led-test <red|blue|off> [solid|slow|fast] [seconds]');
    return { color, ...(mode && { mode }), ...(seconds && { seconds: Number(seconds) }) };
  }),
  config: { usage: "config get [path] | set <path> <value> | patch '<json>'", summary: 'the settings (value: JSON or a plain string)', run: config },
  timeline: {
    usage: 'timeline [--since 10s|2m|1h|ISO|ms] [--kind gpio|i2c|serial] [-n N]', summary: '(sim board)',
    options: { since: { type: 'string' }, kind: { type: 'string' }, lines: { type: 'string', short: 'n' } },
    run: timeline,
  },
  press: simple(['press <button> <ms>', '(sim board) e.g. press reset 5200'], 'sim.press', ([button, ms]) => {
    if (!button || !ms || !/^\d+$/.test(ms)) throw new UsageError('usage: camctl press <button> <milliseconds>');
    return { button, ms: Number(ms) };
  }),
  reboot: simple(['reboot'], 'reboot', (p) => (noWords('reboot', p), {})),
  identity: { usage: 'identity', summary: 'serial, verification code, and the pairing QR code drawn', run: (inv) => (noWords('identity', inv.positionals), runIdentity(inv.socket, { json: inv.json })) },
  snapshot: {
    usage: 'snapshot --lens wide|ptz -o FILE.jpg', summary: 'a still picture (-o -: JPEG bytes to stdout)',
    options: { lens: { type: 'string' }, output: { type: 'string', short: 'o' } },
    run: (inv) => {
      noWords('snapshot', inv.positionals);
      if (typeof inv.values.lens !== 'string') throw new UsageError('usage: camctl snapshot --lens wide|ptz -o FILE.jpg');
      return runSnapshot(inv.socket, { lens: inv.values.lens, ...(typeof inv.values.output === 'string' && { out: inv.values.output }), json: inv.json });
    },
  },
  view360: {
    usage: 'view360 [--shots 3..12] [-o FILE.jpg]', summary: 'a 360° panorama, with progress',
    options: { shots: { type: 'string' }, output: { type: 'string', short: 'o' } },
    run: (inv) => {
      noWords('view360', inv.positionals);
      const shots = intFlag(inv.values.shots, '--shots', 3, 12);
      return runView360(inv.socket, { ...(shots !== undefined && { shots }), ...(typeof inv.values.output === 'string' && { out: inv.values.output }), json: inv.json });
    },
  },
  storage: {
    usage: 'storage initialise [--yes]', summary: 'erase and prepare the microSD card (asks first)',
    options: { yes: { type: 'boolean', short: 'y' } },
    run: (inv) => {
      if (inv.positionals.join(' ') !== 'initialise') throw new UsageError('usage: camctl storage initialise [--yes]');
      return runStorageInitialise(inv.socket, { yes: inv.values.yes === true, json: inv.json });
    },
  },
  'factory-reset': { usage: 'factory-reset [--yes]', summary: 'erase settings and credentials, then reboot', options: { yes: { type: 'boolean', short: 'y' } }, run: factoryReset },
  update: {
    usage: 'update <manifest file|https URL> [--allow-downgrade]', summary: 'install a signed release',
    options: { 'allow-downgrade': { type: 'boolean' } },
    run: async (inv) => {
      const [source, ...more] = inv.positionals;
      if (!source || more.length) throw new UsageError('usage: camctl update <manifest file|https URL> [--allow-downgrade]');
      return runUpdate(inv.socket, source, inv.values['allow-downgrade'] === true, inv.json);
    },
  },
  recordings: {
    usage: 'recordings list|get|upload --lens L …', summary: 'list (--since 1h|ISO, --to, -n), get (--from --to -o FILE.ts), upload (--from --to --url)',
    options: { lens: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, since: { type: 'string' }, output: { type: 'string', short: 'o' }, url: { type: 'string' }, lines: { type: 'string', short: 'n' } },
    run: recordings,
  },
  call: {
    usage: "call <command> ['<json args>']",
    summary: 'any command by name, JSON out (see: camctl call commands)',
    run: async (inv) => {
      const [cmd, json, ...more] = inv.positionals;
      if (!cmd || more.length) throw new UsageError('usage: camctl call <command> [json]');
      const args = json ? parseValue(json) : {};
      if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new UsageError('arguments must be a JSON object');
      return printReply(await request(inv.socket, cmd, args as Record<string, unknown>), inv.json, asJson);
    },
  },
};

/** `--json` never colours (scripts read it). */
export function jsonMode(json: boolean): void {
  if (json) setColour(false);
}
