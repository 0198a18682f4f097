import { afterEach, describe, expect, it } from 'vitest';
import { bytes, colourEnabled, duration, green, kv, red, relative, setColour, table, tree, visibleLength, wrap } from '../../../src/cli/format.js';

describe('units and times', () => {
  it('relative times read as "3 s ago" / "in 2 min" / "now"', () => {
    const now = 1_000_000_000;
    expect(relative(now - 3000, now)).toBe('3 s ago');
    expect(relative(now + 119_500, now)).toBe('in 2 min');
    expect(relative(now - 400, now)).toBe('now');
    expect(relative(now - 90 * 60_000, now)).toBe('1.5 h ago');
    expect(relative(now + 3 * 86_400_000, now)).toBe('in 3 d');
  });

  it('durations and bytes carry their units', () => {
    expect(duration(45_000)).toBe('45 s');
    expect(duration(200_000)).toBe('3 min 20 s');
    expect(duration(7_500_000)).toBe('2 h 5 min');
    expect(bytes(270_553_174_016)).toBe('271 GB');
    expect(bytes(84_116_021_248)).toBe('84.1 GB');
    expect(bytes(36_492)).toBe('36.5 kB');
    expect(bytes(12)).toBe('12 B');
  });
});

describe('layout', () => {
  it('kv aligns keys and wraps long values under themselves within the width', () => {
    const lines = kv([['a', 'short'], ['longer key', 'word '.repeat(30).trim()]], 2, 0, 40);
    expect(lines[0]).toBe('  a           short');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines.slice(2).every((l) => l.startsWith(' '.repeat(14)))).toBe(true);
  });

  it('wrap cuts a word longer than the line rather than overflow', () => {
    expect(wrap('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
  });

  it('table columns are as wide as their widest cell', () => {
    setColour(false);
    expect(table(['lens', 'fps'], [['wide', '5'], ['ptz', '15']])).toEqual(['  lens  fps', '  wide  5', '  ptz   15']);
  });

  it('tree shows an object as indented key: value lines', () => {
    expect(tree({ device: { name: 'Shed', tags: ['a', 'b'] }, empty: {}, list: [], on: true })).toEqual([
      'device:', '  name: Shed', '  tags:', '    - a', '    - b', 'empty: {}', 'list: []', 'on: true',
    ]);
  });
});

describe('colours', () => {
  const tty = process.stdout.isTTY;
  const noColor = process.env.NO_COLOR;
  afterEach(() => {
    setColour(undefined);
    process.stdout.isTTY = tty;
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
  });

  it('only on a TTY, and never with NO_COLOR set', () => {
    setColour(undefined);
    process.stdout.isTTY = true;
    delete process.env.NO_COLOR;
    expect(colourEnabled()).toBe(true);
    expect(red('x')).toBe('\u001b[31mx\u001b[0m');
    process.env.NO_COLOR = '1';
    expect(colourEnabled()).toBe(false);
    expect(green('x')).toBe('x');
    // no-color.org: an empty NO_COLOR does not count.
    process.env.NO_COLOR = '';
    expect(colourEnabled()).toBe(true);
    process.stdout.isTTY = false;
    expect(red('x')).toBe('x');
  });

  it('colour codes take no width', () => {
    setColour(true);
    expect(visibleLength(red('abc'))).toBe(3);
    expect(kv([[red('k'), 'v']], 0, 4)).toEqual([`${red('k')}   v`]);
  });
});
