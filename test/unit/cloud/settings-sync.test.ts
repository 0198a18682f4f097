import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { ConfigStore } from '../../../src/config/store.js';
import { ReportedSchema } from '../../../src/cloud/schema.js';
import { SettingsSync } from '../../../src/cloud/settings-sync.js';
import { CommandRegistry, type Refusal } from '../../../src/commands/registry.js';

const log = silentLogging().forComponent('cloud');
let dir: string;
let config: ConfigStore;
let published: ReturnType<typeof ReportedSchema.parse>[];
let sync: SettingsSync;
let refusals: Refusal[];
const tick = () => new Promise((r) => setImmediate(r));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camd-sync-'));
  config = new ConfigStore(join(dir, 'config.json'), log);
  await config.load();
  published = [];
  refusals = [];
  const commands = new CommandRegistry(log);
  commands.setPolicy({ presence: () => false, refused: (r) => void refusals.push(r) });
  sync = new SettingsSync({ clock: systemClock, config, commands, log, connected: () => true, publish: async (p) => void published.push(ReportedSchema.parse(JSON.parse(p))) });
  sync.start();
});
afterEach(() => {
  sync.stop();
  rmSync(dir, { recursive: true, force: true });
});

const desired = (doc: unknown, retain = false) => sync.handleDesired({ topic: 'camd/X/config/desired', payload: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), retain });

describe('settings sync', () => {
  it('refuses a patch that would move the cloud link or allow local push targets: forbidden, nothing changed, refusal reported', async () => {
    await config.patch({ cloud: { keepaliveSeconds: 60 } }, 'camctl');
    await tick();
    const before = JSON.stringify(config.get());
    for (const doc of [
      { cloud: { url: 'mqtt://203.0.113.9:1883', allowPlaintext: true } },
      { audio: { volume: 20 }, cloud: { allowPlaintext: true } },
      { live: { allowLocalTargets: true } },
      { cloud: null },
    ]) {
      refusals.length = 0;
      await desired(doc);
      await tick();
      expect(published.at(-1)!.lastDesired).toMatchObject({ result: 'rejected', error: { code: 'forbidden' } });
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ source: 'cloud', command: 'config/desired' });
      expect(JSON.stringify(config.get())).toBe(before);
    }
    // A full document that repeats the current (local-class) values changes nothing local: accepted.
    await desired({ ...config.get(), audio: { ...config.get().audio, volume: 21 } });
    await tick();
    expect(published.at(-1)!.lastDesired).toMatchObject({ result: 'accepted', changed: ['audio.volume'] });
  });

  it('applies a merge patch atomically and reports it once, with the full config', async () => {
    await desired({ $requestId: 'r1', audio: { volume: 20 }, lights: { human: { strobe: true } } });
    await tick();
    expect(published).toHaveLength(1);
    expect(published[0]!.lastDesired).toMatchObject({ result: 'accepted', requestId: 'r1', changed: ['lights.human.strobe', 'audio.volume'] });
    expect(published[0]!.config).toEqual(JSON.parse(JSON.stringify(config.get())));
    expect(config.get().audio.volume).toBe(20);
  });

  it('rejects invalid documents with code/message/path and changes nothing', async () => {
    const before = config.get();
    for (const [doc, code, path] of [
      [{ $requestId: 'bad', audio: { volume: 20 }, lights: { human: { strobe: 'yes' } } }, 'invalid_args', 'lights.human.strobe'],
      [{ nope: 1 }, 'invalid_args', 'nope'],
      ['{"audio":', 'malformed', undefined],
      ['[1]', 'invalid_args', ''],
      [{ $requestId: 5 }, 'invalid_args', '$requestId'],
      [{ device: { name: 'x'.repeat(70_000) } }, 'too_large', undefined],
    ] as const) {
      await desired(doc);
      await tick();
      expect(published.at(-1)!.lastDesired, JSON.stringify(doc).slice(0, 60)).toMatchObject({ result: 'rejected', error: { code, ...(path !== undefined && { path }) } });
    }
    expect(published[0]!.lastDesired).toMatchObject({ requestId: 'bad' });
    expect(config.get()).toEqual(before);
  });

  it('does not apply retained desired documents', async () => {
    await desired({ audio: { volume: 5 } }, true);
    await tick();
    expect(published.at(-1)!.lastDesired).toMatchObject({ result: 'rejected' });
    expect(config.get().audio.volume).toBe(80);
  });

  it('reports local changes from any source', async () => {
    await config.patch({ device: { name: 'Garage' } }, 'command');
    await tick();
    expect(published.at(-1)).toMatchObject({ config: { device: { name: 'Garage' } }, lastDesired: null, source: 'file' });
  });
});
