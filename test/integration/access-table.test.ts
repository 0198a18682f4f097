import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootSim, REPO, type BootedSim } from '../harness/boot.js';

/**
 * README "Who may do what" is the documented trust model: its command table must name every
 * command the whole daemon registers, with the class the command declares — both ways.
 */
function documented(): Map<string, string> {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.split('\n## Who may do what')[1]?.split('\n## ')[0] ?? '';
  const table = section.split('\n### Commands')[1]?.split('\n### ')[0] ?? '';
  const out = new Map<string, string>();
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    const cls = cells[2]!.replace(/`/g, '');
    for (const m of cells[1]!.matchAll(/`([a-z0-9.-]+)`/g)) out.set(m[1]!, cls);
  }
  return out;
}

let booted: BootedSim;
beforeAll(async () => {
  booted = await bootSim({});
}, 120_000);
afterAll(async () => {
  await booted?.dispose();
}, 60_000);

describe('README trust table', () => {
  it('lists every command with its declared class, and nothing else', () => {
    const doc = documented();
    expect(doc.size).toBeGreaterThan(40);
    const registered = new Map(booted.sup.commands.list('local').map((c) => [c.name, c.access as string]));
    const missing = [...registered].filter(([n]) => !doc.has(n)).map(([n, a]) => `${n} (${a})`);
    const wrong = [...registered].filter(([n, a]) => doc.has(n) && doc.get(n) !== a).map(([n, a]) => `${n}: README ${doc.get(n)}, code ${a}`);
    const stale = [...doc.keys()].filter((n) => !registered.has(n));
    expect({ missing, wrong, stale }).toEqual({ missing: [], wrong: [], stale: [] });
  });
});
