/**
 * `npm run bench`: every benchmark of the project in one run, printed and written as JSON to
 * bench-results/bench.json. Figures are for comparison within one run (these machines are
 * shared and noisy); no benchmark is a pass/fail test. BENCH_ONLY=foundation,cloud picks some.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO = resolve(import.meta.dirname, '..');
const suites: [string, string, string][] = [
  ['foundation', 'bench-foundation.ts', 'benchFoundation'],
  ['cloud', 'bench-cloud.ts', 'benchCloud'],
  ['capture', 'bench-capture.ts', 'benchCapture'],
  ['detect', 'bench-detect.ts', 'benchDetect'],
  ['detect-daemon', 'bench-detect-daemon.ts', 'benchDetectDaemon'],
  ['ptz', 'bench-ptz.ts', 'benchPtz'],
  ['simview', 'bench-simview.ts', 'benchSimview'],
];

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO, stdio: 'inherit' });
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length };
  for (const [name, file, fn] of suites) {
    if (only && !only.includes(name)) continue;
    const path = join(REPO, 'scripts', file);
    if (!existsSync(path)) continue;
    process.stdout.write(`\n== ${name}\n`);
    try {
      const mod = (await import(pathToFileURL(path).href)) as Record<string, () => Promise<Record<string, number>>>;
      const figures = await mod[fn]!();
      for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k.padEnd(52)} ${v}\n`);
      results[name] = figures;
    } catch (err) {
      process.stdout.write(`${name}: FAILED: ${err instanceof Error ? err.stack : String(err)}\n`);
      results[name] = { error: String(err) };
    }
  }
  mkdirSync(join(REPO, 'bench-results'), { recursive: true });
  writeFileSync(join(REPO, 'bench-results/bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nwritten: bench-results/bench.json\n`);
}

void main().then(() => process.exit(0));
