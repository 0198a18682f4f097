import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in what the user typed: camctl says what and exits 2. */
export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/** The options every command takes, before or after its name. */
export const GLOBAL_OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

/**
 * The command word: the first argument that is not a global option (or its value). Returns the
 * word and the other arguments, for parseVerb.
 */
export function splitVerb(argv: string[]): { verb: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--socket') {
      i++;
      continue;
    }
    if (a.startsWith('--socket=') || a === '--json' || a === '--help' || a === '-h') continue;
    if (a.startsWith('-')) throw new UsageError(`unknown option ${a.split('=')[0]} (before the command: --socket PATH, --json, -h)`);
    return { verb: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { verb: undefined, rest: argv };
}

/**
 * parseArgs (strict) over the command's options plus the global ones. The errors name the flag as
 * the user typed it: `unknown option --folow for "camctl logs" (it takes -f, -n, --level, …)`,
 * `-n needs a value`, `--json takes no value`.
 */
export function parseVerb(verb: string, args: string[], options: Options): { values: Values; positionals: string[] } {
  const all: Options = { ...GLOBAL_OPTIONS, ...options };
  const { tokens } = parseArgs({ args, options: all, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const def = all[t.name];
    if (!def) {
      const number = /^-\d/.test(t.rawName) ? ' (a negative number? put it after --, e.g. camctl config set ptz.x -- -5)' : '';
      throw new UsageError(`unknown option ${t.rawName} for "camctl ${verb}"${number}${describe(options)}`);
    }
    if (def.type === 'string' && (t.value === undefined || (!t.inlineValue && /^-[^\d]/.test(t.value)))) throw new UsageError(`${t.rawName} needs a value`);
    if (def.type === 'boolean' && t.value !== undefined) throw new UsageError(`${t.rawName} takes no value`);
  }
  try {
    const { values, positionals } = parseArgs({ args, options: all, strict: true, allowPositionals: true });
    return { values: values as Values, positionals };
  } catch (err) {
    // Anything the pass above did not foresee: parseArgs' own words, still naming the flag.
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function describe(options: Options): string {
  const names = Object.entries(options).map(([name, o]) => (o.short ? `-${o.short}` : `--${name}`));
  return names.length ? ` (it takes ${names.join(', ')})` : ' (it takes no options)';
}

/** An integer flag within bounds: `-n must be 1..1000`. */
export function intFlag(text: string | boolean | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = typeof text === 'string' && /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be ${min}..${max}${typeof text === 'string' ? ` (got ${text})` : ''}`);
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a span back from now (`10s`, `2m`, `1h`, `1d`, `500ms`, `1h30m`), an ISO date
 * (`2026-12-01T10:00:00Z`, anything Date.parse reads) or epoch milliseconds. Returns epoch ms.
 */
export function parseSince(text: string, now: number, flag = '--since'): number {
  const t = text.trim();
  if (/^\d{10,}$/.test(t)) return Number(t);
  const span = /^(?:\d+(?:\.\d+)?(?:ms|min|s|m|h|d))+$/.test(t) ? [...t.matchAll(/(\d+(?:\.\d+)?)(ms|min|s|m|h|d)/g)] : [];
  if (span.length) return now - span.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_MS[unit!]!, 0);
  // A bare small number is ambiguous (seconds? an epoch?): ask for a unit rather than guess.
  if (/^\d+$/.test(t)) throw new UsageError(`${flag} ${t}: give a unit (${t}s, ${t}m) or a full epoch in ms`);
  const abs = Date.parse(t);
  if (!Number.isFinite(abs)) throw new UsageError(`${flag}: not a time: ${text} (e.g. 10s, 2m, 1h, 2026-12-01T10:00:00Z or epoch ms)`);
  return abs;
}
