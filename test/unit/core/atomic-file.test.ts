import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeStaleTemps, writeFileAtomic } from '../../../src/core/atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'camd-atomic-'));
});
afterEach(() => {
  try {
    execFileSync('umount', ['-l', join(dir, 'small')], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
  rmSync(dir, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;

describe('removeStaleTemps', () => {
  it("removes exactly the temps writeFileAtomic makes for that one file", async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, '{}');
    const ours = ['.config.json.0123456789ab.tmp', '.config.json.ffffffffffff.tmp'];
    const others = [
      '.config.json.last-good.0123456789ab.tmp', // the last-good copy's temp: another file's
      '.config.json.tmp',
      '.config.json.0123456789AB.tmp', // upper case: not what randomBytes().toString('hex') gives
      '.config.json.0123456789a.tmp',
      '.config.json.0123456789ab.tmp~',
      'config.json.0123456789ab.tmp',
      '.configXjson.0123456789ab.tmp', // the dot is literal, not "any character"
      'config.json.last-good',
    ];
    for (const n of [...ours, ...others]) writeFileSync(join(dir, n), 'x');
    expect((await removeStaleTemps(file)).sort()).toEqual(ours);
    expect(readdirSync(dir).sort()).toEqual(['config.json', ...others].sort());
    expect(await removeStaleTemps(file)).toEqual([]);
  });

  it('a missing directory is nothing to clean', async () => {
    expect(await removeStaleTemps(join(dir, 'nope', 'config.json'))).toEqual([]);
  });

  // That these are the names writeFileAtomic really uses is shown by test/unit/config/temps-kill9.test.ts.
});

describe('writeFileAtomic on a full file system', () => {
  it.skipIf(!isRoot)('ENOSPC: the old content stays and no temp is left behind (tmpfs filled to 0 bytes free)', async () => {
    const small = join(dir, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
    const file = join(small, 'index.jsonl');
    writeFileSync(file, 'old\n');
    // Fill every last block (dd stops at ENOSPC).
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(small, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // "No space left on device" is the point.
    }
    await expect(writeFileAtomic(file, 'new content\n')).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readFileSync(file, 'utf8')).toBe('old\n');
    expect(readdirSync(small).sort()).toEqual(['filler', 'index.jsonl']);
  });
});
