import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigSchema } from '../../../src/config/schema.js';
import { ConfigStore } from '../../../src/config/store.js';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { TelemetrySchema } from '../../../src/cloud/schema.js';
import { TelemetryPublisher } from '../../../src/cloud/telemetry-publisher.js';
import { initialState, StateStore } from '../../../src/state/store.js';

const info = { serial: 'CAM123456789', model: 'sim', board: 'sim' };
const log = silentLogging().forComponent('cloud');
let dir: string;
let state: StateStore;
let config: ConfigStore;
let sent: { at: number; doc: Record<string, unknown> }[];
let connected: boolean;
let pub: TelemetryPublisher | undefined;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  dir = mkdtempSync(join(tmpdir(), 'camd-tel-'));
  config = new ConfigStore(join(dir, 'config.json'), log);
  await config.load();
  state = new StateStore(initialState(1, 'boot-1', Date.now()));
  sent = [];
  connected = true;
});
afterEach(() => {
  pub?.stop();
  pub = undefined;
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function start(): TelemetryPublisher {
  pub = new TelemetryPublisher({ clock: systemClock, state, config, info, log, connected: () => connected, publish: async (p) => void sent.push({ at: Date.now(), doc: JSON.parse(p) }) });
  pub.start();
  return pub;
}

const setChildren = (restarts: number) => state.set('children', { 'capture.wide': { name: 'capture.wide', kind: 'supervised', status: 'running', pid: 7, restarts } });

describe('telemetry publisher', () => {
  it('defaults to one document every 300 s, on the injected clock, with the latest counters', async () => {
    expect(ConfigSchema.parse({}).cloud.telemetrySeconds).toBe(300);
    start();
    setChildren(1);
    await vi.advanceTimersByTimeAsync(299_999);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(1);
    setChildren(2);
    await vi.advanceTimersByTimeAsync(3 * 300_000);
    expect(sent).toHaveLength(4);
    const doc = TelemetrySchema.parse(sent.at(-1)!.doc);
    expect(doc).toMatchObject({ schema: 1, bootId: 'boot-1', uptimeMs: 4 * 300_000, children: { 'capture.wide': { pid: 7, restarts: 2 } } });
    // Only telemetry: nothing of the state's meaningful fields.
    expect(doc).not.toHaveProperty('lifecycle');
    expect(doc).not.toHaveProperty('serial');
  });

  it('publishes at once on connect and starts the period over; nothing while offline, nothing queued', async () => {
    start();
    await vi.advanceTimersByTimeAsync(200_000);
    await pub!.publishNow();
    expect(sent.map((s) => s.at)).toEqual([Date.now()]);
    const connectedAt = Date.now();
    await vi.advanceTimersByTimeAsync(299_000);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent.map((s) => s.at - connectedAt)).toEqual([0, 300_000]);
    connected = false;
    await vi.advanceTimersByTimeAsync(900_000);
    expect(sent).toHaveLength(2);
    connected = true;
    await vi.advanceTimersByTimeAsync(300_000);
    expect(sent).toHaveLength(3);
  });

  it('applies a new cloud.telemetrySeconds at once, from the time of the change', async () => {
    start();
    await vi.advanceTimersByTimeAsync(100_000);
    await config.patch({ cloud: { telemetrySeconds: 20 } }, 'test');
    const changedAt = Date.now();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent.map((s) => s.at - changedAt)).toEqual([20_000, 40_000, 60_000]);
  });

  it('rejects a period outside 10 s … 1 day, and the running one stays', async () => {
    start();
    for (const bad of [9, 86_401, 1.5, '300']) {
      await expect(config.patch({ cloud: { telemetrySeconds: bad } }, 'test')).rejects.toMatchObject({ code: 'invalid_args', path: 'cloud.telemetrySeconds' });
    }
    expect(config.get().cloud.telemetrySeconds).toBe(300);
    await vi.advanceTimersByTimeAsync(300_000);
    expect(sent).toHaveLength(1);
  });

  it('stops for good: no timer left behind', async () => {
    start();
    pub!.stop();
    await config.patch({ cloud: { telemetrySeconds: 10 } }, 'test');
    await vi.advanceTimersByTimeAsync(600_000);
    expect(sent).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
