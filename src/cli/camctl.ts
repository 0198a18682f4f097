#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { patchFromPath } from '../config/merge.js';
import { projectRoot } from '../core/paths.js';
import { ControlClient, type Reply } from './client.js';
import { formatLogLine, formatStatus, formatTimelineEntry, setDisplayZone } from './format.js';
import { parseTime, runRecordingsGet } from './recordings.js';
import { runUpdate } from './update.js';

const USAGE = `camctl — talk to camd over its control socket

usage: camctl [--socket PATH] [--json] <command> [args]

  status                         live state: LED and why, outputs, reset button, services, faults
  led                            what the LED shows, and every condition that holds
  logs [-f] [--level L] [--component C] [-n N]
  events -f                      follow camera events (detections, alarms, button, storage)
  set <output> on|off [pct]      strobeRed | strobeBlue | siren | spotlight
  led-test <red|blue|off> [solid|slow|fast] [seconds]
  config get [path]              the running settings (or one value)
  config set <path> <value>      change one setting; value is JSON or a plain string
  config patch '<json>'          change several settings at once (JSON merge patch)
  timeline [--since MS] [--kind gpio|i2c|serial] [-n N]     (sim board)
  press <button> <ms>            (sim board) e.g. press reset 5200
  reboot
  factory-reset [--yes]          erase settings and credentials, then reboot
  update <manifest file|https URL> [--allow-downgrade]   install a signed release, with progress
  recordings get --lens L --from T --to T -o FILE.ts   the recordings of [T, T] (epoch ms or ISO
                                 date) joined into one MPEG-TS file (-o -: stdout)
  call <command> ['<json args>'] any command by name (see: camctl call commands)

socket: --socket, else $CAMD_SOCKET, else /run/camd/camd.sock, else the sim board's var/sim/run/camd.sock
`;

const repoRoot = projectRoot(import.meta.url);

function socketPath(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.CAMD_SOCKET) return process.env.CAMD_SOCKET;
  if (existsSync('/run/camd/camd.sock')) return '/run/camd/camd.sock';
  return join(repoRoot, 'var/sim/run/camd.sock');
}

class UsageError extends Error {}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function take(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) throw new UsageError(`${flag} needs a value`);
  args.splice(i, 2);
  return v;
}

function takeBool(args: string[], ...flags: string[]): boolean {
  let found = false;
  for (const f of flags) {
    const i = args.indexOf(f);
    if (i >= 0) {
      args.splice(i, 1);
      found = true;
    }
  }
  return found;
}

function pathToPatch(path: string, value: unknown): Record<string, unknown> {
  if (!path.split('.').some(Boolean)) throw new UsageError('config set needs a dotted path, e.g. detection.human.sensitivity');
  return patchFromPath(path, value);
}

/** Maps the CLI words onto a control command; `follow` commands stream until Ctrl-C. */
function plan(argv: string[]): { cmd: string; args: Record<string, unknown>; follow?: boolean; view?: View } {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'status':
      return { cmd: 'status', args: {}, view: 'status' };
    case 'led':
      return { cmd: 'led.get', args: {} };
    case 'logs': {
      const level = take(rest, '--level');
      const component = take(rest, '--component');
      const n = take(rest, '-n');
      const follow = takeBool(rest, '-f', '--follow');
      return { cmd: 'logs.follow', args: { ...(level && { level }), ...(component && { component }), backlog: n ? Number(n) : 50 }, follow, view: 'log' };
    }
    case 'events':
      return { cmd: 'events.follow', args: {}, follow: true };
    case 'set': {
      const [output, onoff, pct] = rest;
      if (!output || (onoff !== 'on' && onoff !== 'off')) throw new UsageError('usage: camctl set <output> on|off [brightness%]');
      return { cmd: 'output.set', args: { output, on: onoff === 'on', ...(pct !== undefined && { brightness: Number(pct) }) } };
    }
    case 'led-test': {
      const [color, mode, seconds] = rest;
      return { cmd: 'led.test', args: { color, ...(mode && { mode }), ...(seconds && { seconds: Number(seconds) }) } };
    }
    case 'config': {
      const [sub, path, value] = rest;
      if (sub === 'get') return { cmd: 'config.get', args: path ? { path } : {} };
      if (sub === 'set') {
        if (!path || value === undefined) throw new UsageError('usage: camctl config set <path> <value>');
        return { cmd: 'config.set', args: { patch: pathToPatch(path, parseValue(value)) } };
      }
      if (sub === 'patch') {
        const patch = parseValue(path ?? '');
        if (typeof patch !== 'object' || patch === null) throw new UsageError('config patch needs a JSON object');
        return { cmd: 'config.set', args: { patch } };
      }
      throw new UsageError('usage: camctl config get|set|patch …');
    }
    case 'timeline': {
      const since = take(rest, '--since');
      const kind = take(rest, '--kind');
      const n = take(rest, '-n');
      return { cmd: 'sim.timeline', args: { ...(since && { since: Number(since) }), ...(kind && { kind }), ...(n && { limit: Number(n) }) }, view: 'timeline' };
    }
    case 'press': {
      const [button, ms] = rest;
      if (!button || !ms || !/^\d+$/.test(ms)) throw new UsageError('usage: camctl press <button> <milliseconds>');
      return { cmd: 'sim.press', args: { button, ms: Number(ms) } };
    }
    case 'reboot':
      return { cmd: 'reboot', args: {} };
    case 'identity':
      return { cmd: 'identity', args: {} };
    case 'call': {
      const [cmd, json] = rest;
      if (!cmd) throw new UsageError('usage: camctl call <command> [json]');
      const args = json ? parseValue(json) : {};
      if (typeof args !== 'object' || args === null) throw new UsageError('arguments must be a JSON object');
      return { cmd, args: args as Record<string, unknown> };
    }
    default:
      throw new UsageError(verb ? `unknown command "${verb}"` : 'no command given');
  }
}

type View = 'status' | 'log' | 'timeline';

function printReply(reply: Reply, json: boolean, view?: View): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    return reply.ok ? 0 : 1;
  }
  if (!reply.ok) {
    const e = reply.error;
    process.stderr.write(`camctl: ${e.code}: ${e.message}${e.path && !e.message.startsWith(e.path) ? ` (at ${e.path})` : ''}\n`);
    return 1;
  }
  if (view === 'status') process.stdout.write(`${formatStatus(reply.result as Record<string, unknown>)}\n`);
  else if (view === 'timeline') for (const e of reply.result as Record<string, unknown>[]) process.stdout.write(`${formatTimelineEntry(e)}\n`);
  else if (typeof reply.result === 'string') process.stdout.write(`${reply.result}\n`);
  else process.stdout.write(`${JSON.stringify(reply.result, null, 2)}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  if (takeBool(args, '-h', '--help') || args.length === 0) {
    process.stdout.write(USAGE);
    return args.length === 0 && argv.length === 0 ? 2 : 0;
  }
  const json = takeBool(args, '--json');
  const sock = socketPath(take(args, '--socket'));
  if (args[0] === 'update') {
    const allowDowngrade = takeBool(args, '--allow-downgrade');
    if (!args[1] || args.length > 2) throw new UsageError('usage: camctl update <manifest file|https URL> [--allow-downgrade]');
    return runUpdate(sock, args[1], allowDowngrade, json);
  }
  if (args[0] === 'recordings' && args[1] === 'get') {
    const lens = take(args, '--lens');
    const from = take(args, '--from');
    const to = take(args, '--to');
    const out = take(args, '-o') ?? take(args, '--output');
    if (!lens || !from || !to || !out || args.length > 2) throw new UsageError('usage: camctl recordings get --lens L --from T --to T -o FILE.ts');
    return runRecordingsGet(sock, lens, parseTime(from, '--from'), parseTime(to, '--to'), out, json);
  }
  if (args[0] === 'factory-reset') {
    const yes = takeBool(args, '--yes', '-y');
    const client = await ControlClient.connect(sock);
    try {
      const first = await client.request('factory-reset', {});
      if (first.ok || first.error.code !== 'confirmation_required') return printReply(first, json);
      const token = /confirm="([^"]+)"/.exec(first.error.message)?.[1];
      if (!yes) {
        process.stderr.write('camctl: factory reset erases every setting and credential. Re-run with --yes to confirm.\n');
        return 1;
      }
      return printReply(await client.request('factory-reset', { confirm: token }), json);
    } finally {
      client.close();
    }
  }
  const p = plan(args);
  const client = await ControlClient.connect(sock);
  // Times people read are shown in device.timezone; --json output keeps the UTC epoch ms.
  if (!json && (p.view !== undefined || p.cmd === 'logs.follow')) {
    const tz = await client.request('config.get', { path: 'device.timezone' }).catch(() => undefined);
    if (tz?.ok && typeof tz.result === 'string') setDisplayZone(tz.result);
  }
  if (p.cmd === 'logs.follow' && !p.follow) {
    // Not following: print the backlog, then hang up.
    const lines: unknown[] = [];
    const reply = await client.request(p.cmd, p.args, (l) => lines.push(l));
    await new Promise((r) => setTimeout(r, 50));
    client.close();
    if (!reply.ok) return printReply(reply, json);
    for (const l of lines) process.stdout.write(`${json ? JSON.stringify(l) : formatLogLine(l as Record<string, unknown>)}\n`);
    return 0;
  }
  if (p.follow) {
    const reply = await client.request(p.cmd, p.args, (item) => {
      process.stdout.write(`${json || p.view !== 'log' ? JSON.stringify(item) : formatLogLine(item as Record<string, unknown>)}\n`);
    });
    if (!reply.ok) {
      client.close();
      return printReply(reply, json);
    }
    await new Promise<void>((resolve) => {
      client.onClose(resolve);
      process.once('SIGINT', () => {
        client.close();
        resolve();
      });
    });
    return 0;
  }
  const reply = await client.request(p.cmd, p.args);
  client.close();
  return printReply(reply, json, p.view);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`camctl: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(`run "camctl --help" for usage\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
