import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PROCESS_TIMEOUTS } from '../../harness/wait.js';

/**
 * The layer rules (.dependency-cruiser.cjs) fail on planted violations: a tiny tree in a temp
 * dir, cruised with the repo's own config, once clean and once with one violation per rule.
 * (The real tree is checked by `npm run lint` in CI.)
 */
vi.setConfig(PROCESS_TIMEOUTS);
const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../../..');
const DEPCRUISE = join(REPO, 'node_modules/.bin/depcruise');

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'camd-layers-'));
  copyFileSync(join(REPO, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

async function cruise(cwd: string): Promise<{ code: number; out: string }> {
  return run(DEPCRUISE, ['src', 'drivers', 'board', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
}

const CLEAN = {
  'drivers/clock.ts': 'export interface Clock { now(): number }\n',
  'board/schema.ts': 'export type LensName = "wide" | "ptz";\n',
  'src/core/clock.ts': "export type { Clock } from '../../drivers/clock.js';\n",
  'src/domain/types.ts': "import type { LensName } from '../../board/schema.js';\nexport type Lens = LensName;\n",
  'src/state/store.ts': "import type { Clock } from '../core/clock.js';\nexport type S = { c?: Clock };\n",
  'src/capture/types.ts': "import type { Lens } from '../domain/types.js';\nexport type Frame = { lens: Lens };\n",
  'src/live/service.ts': "import type { Frame } from '../capture/types.js';\nexport type L = Frame;\n",
  'src/alarm/service.ts': "import type { S } from '../state/store.js';\nexport type A = S;\n",
  'src/services.ts': "import type { A } from './alarm/service.js';\nimport type { L } from './live/service.js';\nexport type All = [A, L];\n",
};

describe('layer rules (dependency-cruiser)', () => {
  it('a tree that keeps the layers passes', async () => {
    const r = await cruise(tree(CLEAN));
    expect(r.out).toMatch(/no dependency violations/);
    expect(r.code).toBe(0);
  });

  it.each([
    ['hardware-knows-no-daemon', 'drivers/bad.ts', "import type { S } from '../src/state/store.js';\nexport type X = S;\n"],
    ['core-and-domain-are-leaves', 'src/core/bad.ts', "import type { S } from '../state/store.js';\nexport type X = S;\n"],
    ['platform-knows-no-feature', 'src/state/bad.ts', "import type { A } from '../alarm/service.js';\nexport type X = A;\n"],
    ['features-are-independent', 'src/alarm/bad.ts', "import type { L } from '../live/service.js';\nexport type X = L;\n"],
    ['capture-reads-no-consumer', 'src/capture/bad.ts', "import type { L } from '../live/service.js';\nexport type X = L;\n"],
    ['src-not-tests-or-scripts', 'src/alarm/bad.ts', "import type { T } from '../../test/helper.js';\nexport type X = T;\n"],
  ])('%s: a planted violation fails the check', async (rule, file, text) => {
    const r = await cruise(tree({ ...CLEAN, 'test/helper.ts': 'export type T = 1;\n', [file]: text }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`error ${rule}:`);
  });

  it('no-circular: an import cycle fails the check', async () => {
    const r = await cruise(
      tree({ ...CLEAN, 'src/alarm/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n", 'src/alarm/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n" }),
    );
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error no-circular:');
  });
});
