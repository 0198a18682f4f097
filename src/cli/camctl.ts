#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../core/paths.js';
import { parseVerb, splitVerb, UsageError } from './args.js';
import { wrap } from './format.js';
import { jsonMode, VERBS, type Verb } from './verbs.js';

const repoRoot = projectRoot(import.meta.url);

/** One command's help: synopsis and summary on a line when they fit 80 columns, else two. */
function helpOf(v: Verb): string {
  const one = `  ${v.usage.padEnd(24)} ${v.summary ?? ''}`.trimEnd();
  return one.length <= 80 || !v.summary ? one : `  ${v.usage}\n${wrap(v.summary, 72).map((l) => `        ${l}`).join('\n')}`;
}

function usage(): string {
  const lines = Object.values(VERBS).map(helpOf);
  return `camctl — talk to camd over its control socket

usage: camctl [--socket PATH] [--json] <command> [args]

${lines.join('\n')}

--json: the daemon's replies as JSON lines, for scripts. Colours only on a
        terminal, and never with NO_COLOR set.
socket: --socket, else $CAMD_SOCKET, else /run/camd/camd.sock, else the sim
        board's var/sim/run/camd.sock
`;
}

function socketPath(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.CAMD_SOCKET) return process.env.CAMD_SOCKET;
  if (existsSync('/run/camd/camd.sock')) return '/run/camd/camd.sock';
  return join(repoRoot, 'var/sim/run/camd.sock');
}

async function main(argv: string[]): Promise<number> {
  const { verb, rest } = splitVerb(argv);
  if (verb === undefined || verb === 'help') {
    process.stdout.write(usage());
    return verb === undefined && !rest.some((a) => a === '-h' || a === '--help') ? 2 : 0;
  }
  const def = VERBS[verb];
  if (!def) throw new UsageError(`unknown command "${verb}"`);
  const { values, positionals } = parseVerb(verb, rest, def.options ?? {});
  if (values.help) {
    process.stdout.write(`usage: camctl ${def.usage}${def.summary ? `\n  ${def.summary}` : ''}\n`);
    return 0;
  }
  const json = values.json === true;
  jsonMode(json);
  return def.run({ socket: socketPath(typeof values.socket === 'string' ? values.socket : undefined), json, values, positionals });
}

// A reader that hangs up (camctl … | head) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`camctl: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(`run "camctl --help" for usage\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
