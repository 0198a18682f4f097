import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootSim, REPO } from '../../harness/boot.js';

/**
 * kill -9 during config and secrets writes, many times over, each time in a real child process
 * that boots the stores first (as the daemon does), then writes until it is killed at a random
 * moment. Every boot must clear the temps the previous kill left, and the final boot (the real
 * supervisor) must find no temp and a valid config and secrets file.
 *
 * The child is bundled once with esbuild (a plain `node child.mjs` starts in ~0.1 s instead of
 * ~0.7 s under tsx), so a few hundred rounds fit in a test on a busy machine.
 */
// 30 in `npm test` (a kill leaves a temp about half the time); CAMD_KILL9_ROUNDS=200 for a storm.
const ROUNDS = Number(process.env.CAMD_KILL9_ROUNDS ?? 30);
const TEMP_RE = /^\.(config\.json|config\.json\.last-good|secrets\.json)\.[0-9a-f]{12}\.tmp$/;

let work: string;
let child: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'camd-kill9-'));
  child = join(work, 'child.mjs');
  buildSync({
    entryPoints: [join(REPO, 'test/unit/core/config-writer-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: child,
    logLevel: 'warning',
    // Bundled CommonJS dependencies (pino) call require().
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const temps = (dir: string): string[] => readdirSync(dir).filter((n) => TEMP_RE.test(n));

/** Starts the writer; resolves once it has loaded (booted) and is writing. */
function startWriter(dataDir: string): Promise<{ kill: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited (${code ?? signal}) before it was killed:\n${err}`));
    });
    p.stdout.once('data', () =>
      resolve({
        kill: async () => {
          p.kill('SIGKILL');
          await exited;
        },
      }),
    );
  });
}

describe('kill -9 during config writes', () => {
  it(`${ROUNDS} kills: each boot removes the temps the last kill left; the final boot finds none and a valid config`, async () => {
    const dir = join(work, 'cam');
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    let leftBehind = 0;
    let empty = 0;
    let killsLeavingTemps = 0;
    let previous: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const w = await startWriter(dataDir);
      // The writer has booted: whatever the previous kill left is gone (its own temps have fresh names).
      const still = temps(dataDir).filter((n) => previous.includes(n));
      expect(still, `round ${round}: temps of the previous kill survived a boot`).toEqual([]);
      await new Promise((r) => setTimeout(r, Math.random() * 40));
      await w.kill();
      previous = temps(dataDir);
      if (previous.length) killsLeavingTemps++;
      leftBehind += previous.length;
      empty += previous.filter((n) => statSync(join(dataDir, n)).size === 0).length;
    }
    const beforeBoot = temps(dataDir).length;
    // Something that only looks similar is not ours to delete.
    const decoys = ['.config.json.tmp', '.config.json.0123456789ab.tmp.bak', '.other.json.0123456789ab.tmp', 'config.json.0123456789ab.tmp'];
    for (const d of decoys) writeFileSync(join(dataDir, d), 'not a camd temp');
    const sim = await bootSim({ dir, services: [] });
    try {
      expect(temps(dataDir)).toEqual([]);
      for (const d of decoys) expect(readdirSync(dataDir)).toContain(d);
      const status = sim.sup.config.status();
      expect(status.error).toBeUndefined();
      expect(status.source).toBe('file');
      expect(sim.sup.config.get().device.name).toMatch(/^cam-\d+-\d+$/);
      expect(sim.sup.secrets.error()).toBeUndefined();
      expect(sim.sup.secrets.get().wifi?.ssid).toMatch(/^net-\d+$/);
    } finally {
      await sim.dispose();
    }
    console.log(
      `kill -9 during config writes: ${ROUNDS} kills, ${killsLeavingTemps} left temps (${leftBehind} files, ${empty} empty), ` +
        `each removed at the next boot; ${beforeBoot} before the final boot, 0 after`,
    );
    expect(killsLeavingTemps).toBeGreaterThan(0);
  }, 600_000);
});
