import { mkdtempSync, readFileSync, writeFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogging } from '../../../src/core/log.js';
import { CamdError } from '../../../src/core/errors.js';
import { ConfigStore } from '../../../src/config/store.js';
import { SecretsStore } from '../../../src/config/secrets.js';
import { defaultConfig } from '../../../src/config/schema.js';

const log = silentLogging().forComponent('test');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'camd-cfg-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<CamdError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CamdError);
  return err as CamdError;
}

describe('ConfigStore', () => {
  it('starts from the factory defaults when there is no file', async () => {
    const store = new ConfigStore(join(dir, 'config.json'), log);
    expect(await store.load()).toEqual(defaultConfig());
    expect(store.status().source).toBe('defaults');
    expect(store.status().error).toBeUndefined();
  });

  it('persists a patch atomically and reloads it', async () => {
    const file = join(dir, 'config.json');
    const store = new ConfigStore(file, log);
    await store.load();
    const { changed } = await store.patch({ detection: { human: { sensitivity: 20 } } }, 'test');
    expect(changed).toEqual(['detection.human.sensitivity']);
    const again = new ConfigStore(file, log);
    expect((await again.load()).detection.human.sensitivity).toBe(20);
    expect(again.status().source).toBe('file');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    // No temp files left behind.
    expect(readFileSync(file, 'utf8')).toContain('"sensitivity": 20');
  });

  it('refuses credentials inside the cloud URL (they belong in the secrets file)', async () => {
    const store = new ConfigStore(join(dir, 'config.json'), log);
    await store.load();
    const err = await rejection(store.patch({ cloud: { url: 'mqtts://user:pw@broker.example:8883' } }, 'test'));
    expect(err.path).toBe('cloud.url');
  });

  it('rejects unknown keys with their exact path and changes nothing', async () => {
    const store = new ConfigStore(join(dir, 'config.json'), log);
    await store.load();
    const err = await rejection(store.patch({ detection: { human: { sensitivty: 20 } } }, 'test'));
    expect(err.code).toBe('invalid_args');
    expect(err.path).toBe('detection.human.sensitivty');
    expect(store.get()).toEqual(defaultConfig());
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
  });

  it('rejects out-of-range values with their path; a valid sibling in the same patch is not applied', async () => {
    const store = new ConfigStore(join(dir, 'config.json'), log);
    await store.load();
    const err = await rejection(store.patch({ device: { name: 'Front door' }, detection: { vehicle: { sensitivity: 101 } } }, 'test'));
    expect(err.path).toBe('detection.vehicle.sensitivity');
    expect(err.message).toMatch(/100/);
    expect(store.get().device.name).toBe('Camera');
  });

  it('null in a merge patch restores the default', async () => {
    const store = new ConfigStore(join(dir, 'config.json'), log);
    await store.load();
    await store.patch({ device: { name: 'Garage' } }, 'test');
    await store.patch({ device: { name: null } }, 'test');
    expect(store.get().device.name).toBe('Camera');
  });

  it('a corrupt file never crashes: falls back to the last good copy and says where the problem is', async () => {
    const file = join(dir, 'config.json');
    const store = new ConfigStore(file, log);
    await store.load();
    await store.patch({ device: { name: 'Porch' } }, 'test');
    writeFileSync(file, '{"device": {"name": "Porch"'); // truncated by a power cut or a bad hand edit
    const again = new ConfigStore(file, log);
    const cfg = await again.load();
    expect(cfg.device.name).toBe('Porch');
    expect(again.status().source).toBe('last-good');
    expect(again.status().error).toMatchObject({ file, path: '' });
    expect(again.status().error!.message).toMatch(/not valid JSON/);
  });

  it('keys a hand-written file leaves out take the board\'s factory defaults', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ device: { name: 'Gate' } }));
    const store = new ConfigStore(file, log, { cloud: { url: 'mqtt://127.0.0.1:1883', allowPlaintext: true } });
    const cfg = await store.load();
    expect(cfg.device.name).toBe('Gate');
    expect(cfg.cloud).toMatchObject({ url: 'mqtt://127.0.0.1:1883', allowPlaintext: true });
    expect(store.defaults().cloud.url).toBe('mqtt://127.0.0.1:1883');
  });

  it('a hand-broken value is reported with its path; with no last good copy the defaults run', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ recording: { mode: 'sometimes' } }));
    const store = new ConfigStore(file, log);
    const cfg = await store.load();
    expect(cfg).toEqual(defaultConfig());
    expect(store.status()).toMatchObject({ source: 'defaults', error: { path: 'recording.mode' } });
  });

  it('factory reset removes both copies', async () => {
    const file = join(dir, 'config.json');
    const store = new ConfigStore(file, log);
    await store.load();
    await store.patch({ device: { name: 'X' } }, 'test');
    await store.reset('test');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.last-good`)).toBe(false);
    expect(store.get()).toEqual(defaultConfig());
  });

  it('serialises concurrent patches: both land, in order', async () => {
    const store = new ConfigStore(join(dir, 'config.json'), log);
    await store.load();
    await Promise.all([store.patch({ device: { name: 'A' } }, 't'), store.patch({ device: { timezone: 'Europe/Amsterdam' } }, 't')]);
    expect(store.get().device).toEqual({ name: 'A', timezone: 'Europe/Amsterdam' });
  });
});

describe('SecretsStore', () => {
  it('writes 0600, tightens a loosened mode, and wipes', async () => {
    const file = join(dir, 'secrets.json');
    const s = new SecretsStore(file, log);
    await s.load();
    await s.update((p) => ({ ...p, wifi: { ssid: 'home', psk: 'correct horse' } }));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const { chmodSync } = await import('node:fs');
    chmodSync(file, 0o644);
    const again = new SecretsStore(file, log);
    expect((await again.load()).wifi?.ssid).toBe('home');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(again.summary()).toEqual({ wifi: true, binding: false, mqtt: false });
    await again.wipe();
    expect(existsSync(file)).toBe(false);
  });

  it('a corrupt secrets file is reported, never thrown', async () => {
    const file = join(dir, 'secrets.json');
    writeFileSync(file, 'hunter2-psk', { mode: 0o600 });
    const s = new SecretsStore(file, log);
    expect(await s.load()).toEqual({});
    expect(s.error()).toMatch(/secrets\.json: not valid JSON/);
    // The parser's own message would quote the file: a credential must never reach the state.
    expect(s.error()).not.toMatch(/hunter2/);
  });
});
