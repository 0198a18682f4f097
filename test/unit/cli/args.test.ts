import { describe, expect, it } from 'vitest';
import { intFlag, parseSince, parseVerb, splitVerb, UsageError } from '../../../src/cli/args.js';
import { VERBS } from '../../../src/cli/verbs.js';

const opts = (verb: string) => VERBS[verb]!.options ?? {};

describe('camctl argument parsing (parseArgs, strict, per command)', () => {
  it('finds the command among the global options, wherever they are', () => {
    expect(splitVerb(['--socket', '/s', '--json', 'status'])).toEqual({ verb: 'status', rest: ['--socket', '/s', '--json'] });
    expect(splitVerb(['logs', '-f', '--socket=/s'])).toEqual({ verb: 'logs', rest: ['-f', '--socket=/s'] });
    expect(() => splitVerb(['-x', 'status'])).toThrow(/unknown option -x/);
  });

  it('parses a command\'s own flags and the global ones after it', () => {
    const { values, positionals } = parseVerb('logs', ['-f', '-n', '20', '--level', 'warn', '--json'], opts('logs'));
    expect(values).toMatchObject({ follow: true, lines: '20', level: 'warn', json: true });
    expect(positionals).toEqual([]);
    expect(parseVerb('config', ['set', 'a.b', 'x'], opts('config')).positionals).toEqual(['set', 'a.b', 'x']);
  });

  it('an unknown flag is named, with what the command does take', () => {
    expect(() => parseVerb('logs', ['--folow'], opts('logs'))).toThrow(new UsageError('unknown option --folow for "camctl logs" (it takes -f, -n, --level, --component)'));
    expect(() => parseVerb('status', ['-n', '3'], opts('status'))).toThrow(/unknown option -n for "camctl status" \(it takes no options\)/);
    expect(() => parseVerb('config', ['set', 'ptz.x', '-5'], opts('config'))).toThrow(/negative number\? put it after --/);
    expect(parseVerb('config', ['set', 'ptz.x', '--', '-5'], opts('config')).positionals).toEqual(['set', 'ptz.x', '-5']);
  });

  it('a missing or unwanted value names the flag', () => {
    expect(() => parseVerb('logs', ['-n'], opts('logs'))).toThrow(new UsageError('-n needs a value'));
    expect(() => parseVerb('logs', ['-n', '-f'], opts('logs'))).toThrow(new UsageError('-n needs a value'));
    expect(() => parseVerb('status', ['--json=yes'], opts('status'))).toThrow(new UsageError('--json takes no value'));
  });

  it('bounds name the user\'s flag, never the daemon\'s argument', () => {
    expect(() => intFlag('5000', '-n', 1, 1000)).toThrow(new UsageError('-n must be 1..1000 (got 5000)'));
    expect(() => intFlag('ten', '-n', 1, 1000)).toThrow(/-n must be 1\.\.1000/);
    expect(intFlag('20', '-n', 1, 1000)).toBe(20);
    expect(intFlag(undefined, '-n', 1, 1000)).toBeUndefined();
  });
});

describe('--since', () => {
  const now = Date.parse('2026-12-02T10:00:00Z');
  it('reads spans back from now', () => {
    expect(parseSince('10s', now)).toBe(now - 10_000);
    expect(parseSince('2m', now)).toBe(now - 120_000);
    expect(parseSince('1h', now)).toBe(now - 3_600_000);
    expect(parseSince('1h30m', now)).toBe(now - 5_400_000);
    expect(parseSince('500ms', now)).toBe(now - 500);
    expect(parseSince('1d', now)).toBe(now - 86_400_000);
  });

  it('reads ISO dates and epoch ms', () => {
    expect(parseSince('2026-12-01T10:00:00Z', now)).toBe(Date.parse('2026-12-01T10:00:00Z'));
    expect(parseSince('1796191759895', now)).toBe(1796191759895);
  });

  it('refuses what it cannot read, naming the flag', () => {
    expect(() => parseSince('yesterday', now)).toThrow(/--since: not a time: yesterday/);
    expect(() => parseSince('12', now)).toThrow(/--since 12: give a unit/);
    expect(() => parseSince('10x', now)).toThrow(UsageError);
  });
});
