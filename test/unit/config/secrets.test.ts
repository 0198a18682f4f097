import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogging } from '../../../src/core/log.js';
import { SecretsStore } from '../../../src/config/secrets.js';

const log = silentLogging().forComponent('test');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'camd-secrets-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('SecretsStore: the file mode is tightened whatever the content', () => {
  for (const [what, content] of [
    ['corrupt (not JSON)', 'hunter2-psk'],
    ['JSON that fails the schema', JSON.stringify({ wifi: { ssid: '', psk: 'short' } })],
    ['empty', ''],
    ['valid', JSON.stringify({ wifi: { ssid: 'home', psk: 'correct horse' } })],
  ] as const) {
    it(`${what} at 0644 → 0600`, async () => {
      const file = join(dir, 'secrets.json');
      writeFileSync(file, content);
      chmodSync(file, 0o644);
      const s = new SecretsStore(file, log);
      await s.load();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      if (what === 'valid') expect(s.error()).toBeUndefined();
      else expect(s.error()).toMatch(/secrets\.json: /);
      expect(s.error() ?? '').not.toMatch(/hunter2|short/);
    });
  }

  it('no file: nothing created, no error', async () => {
    const s = new SecretsStore(join(dir, 'secrets.json'), log);
    expect(await s.load()).toEqual({});
    expect(s.error()).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('load removes temps of an interrupted write of the secrets file, and only those', async () => {
    const file = join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ wifi: { ssid: 'home', psk: 'correct horse' } }), { mode: 0o600 });
    writeFileSync(join(dir, '.secrets.json.a1b2c3d4e5f6.tmp'), '');
    writeFileSync(join(dir, '.secrets.json.0123456789ab.tmp'), '{"wifi":{"ssid":"ho');
    writeFileSync(join(dir, '.config.json.0123456789ab.tmp'), 'someone else\'s');
    const s = new SecretsStore(file, log);
    expect((await s.load()).wifi?.ssid).toBe('home');
    expect(readdirSync(dir).sort()).toEqual(['.config.json.0123456789ab.tmp', 'secrets.json']);
  });
});
