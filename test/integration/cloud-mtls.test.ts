import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cloudService } from '../../src/cloud/service.js';
import { PublishedStateSchema } from '../../src/cloud/schema.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import type { Broker, TlsFiles } from '../harness/mosquitto.js';
import { makeProductionPki, startProductionBroker, type ProductionBroker } from '../harness/pki.js';
import { CloudClient, ManualClock, until } from './cloud-helpers.js';
import { PROCESS_TEST_MS, PROCESS_TIMEOUTS, patience } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The shipped production broker config (scripts/mosquitto/production.conf) and ACL
 * (production.acl) on a real mosquitto, with certificates made by openssl: mTLS, the CN as the
 * username, each device confined to camd/<its serial>/. The cloud side uses the backend listener
 * and CA (test/integration/broker-production.test.ts tests those and the CRL).
 */
const SERIAL = 'CAMSIM0000001';
const OTHER = 'CAMOTHER00002';
const BASE = `camd/${SERIAL}`;

let tls: TlsFiles;
let broker: Broker;
let prod: ProductionBroker;
let sim: BootedSim | undefined;
let dir: string | undefined;
const clients: mqtt.MqttClient[] = [];

beforeAll(async () => {
  prod = await startProductionBroker(await makeProductionPki({ devices: [SERIAL, OTHER], backends: ['camd-cloud'], untrusted: [SERIAL] }));
  ({ tls, broker } = prod);
}, PROCESS_TEST_MS);
afterAll(async () => {
  await prod.dispose();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await sim?.dispose();
  sim = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function clientOpts(cn: string, rogue = false): IClientOptions {
  const c = rogue ? tls.rogue[cn]! : tls.clients[cn]!;
  return { ca: readFileSync(tls.ca), cert: readFileSync(c.cert), key: readFileSync(c.key), rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: patience(5000) };
}

async function raw(cn: string, opts: IClientOptions = {}): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `${cn}-raw-${clients.length}`, ...clientOpts(cn), ...opts });
  clients.push(c);
  return c;
}

async function bootDevice(mqttSecrets: Record<string, string>): Promise<BootedSim> {
  dir = mkdtempSync(join(tmpdir(), 'camd-mtls-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ cloud: { url: broker.url, allowPlaintext: false } }));
  writeFileSync(join(dir, 'data', 'secrets.json'), JSON.stringify({ mqtt: mqttSecrets }), { mode: 0o600 });
  sim = await bootSim({ dir, clock: new ManualClock(), services: [coreCommands, cloudService] });
  return sim;
}

describe('production broker config: mTLS + per-device ACL', () => {
  it('the device connects with its certificate, verifies the server and works end to end', async () => {
    const s = await bootDevice({ caFile: tls.ca, certFile: tls.clients[SERIAL]!.cert, keyFile: tls.clients[SERIAL]!.key });
    await until(() => s.sup.state.get().cloud?.connected, 'device connected over mTLS');
    const cloud = await CloudClient.connect(prod.backendUrl, clientOpts('camd-cloud'));
    clients.push(cloud.client);
    await cloud.subscribe(`${BASE}/#`);
    await until(() => cloud.on(`${BASE}/availability`).find((m) => m.text === 'online'), 'availability');
    const state = await until(() => cloud.on(`${BASE}/state`).at(-1), 'state');
    expect(PublishedStateSchema.parse(JSON.parse(state.text)).cloud?.link).toBe('online');
    expect(await cloud.request(BASE, 'config.get', { path: 'cloud.url' })).toEqual({ ok: true, result: broker.url });
    await s.sup.commands.execute('sim.emit-event', { count: 5, kind: 'alarm', type: 'siren.on' }, { source: 'local' });
    await until(() => cloud.on(`${BASE}/events`).length >= 5, 'events over mTLS');
  });

  it('a device can neither publish nor subscribe outside camd/<its serial>/', async () => {
    const cloud = await CloudClient.connect(prod.backendUrl, clientOpts('camd-cloud'));
    clients.push(cloud.client);
    await cloud.subscribe('camd/#');
    const dev = await raw(SERIAL);

    // Outside its prefix: refused (MQTT 5 reason code) and never delivered.
    const outside = [`camd/${OTHER}/events`, `camd/${OTHER}/cmd/reboot`, 'camd/other-topic', `${BASE}x/events`];
    for (const topic of outside) {
      const err = await dev.publishAsync(topic, 'forged', { qos: 1 }).then(() => undefined, (e: { code?: number }) => e);
      expect(err?.code, topic).toBe(0x87);
    }
    // Inside its prefix but against the contract's direction: a device cannot forge its own commands.
    const wrongWay = await dev.publishAsync(`${BASE}/cmd/reboot`, '{}', { qos: 1 }).then(() => undefined, (e: { code?: number }) => e);
    expect(wrongWay?.code).toBe(0x87);
    const ownOk = await dev.publishAsync(`${BASE}/events`, '{"probe":1}', { qos: 1 }).then(() => 'ok', (e: Error) => e.message);
    expect(ownOk).toBe('ok');
    await until(() => cloud.on(`${BASE}/events`).find((m) => m.text === '{"probe":1}'), 'own publish delivered');
    expect(cloud.messages.filter((m) => m.text === 'forged' || m.topic === `${BASE}/cmd/reboot`)).toHaveLength(0);

    // Mosquitto 2 grants every SUBSCRIBE and applies the read ACL to each message it would
    // deliver: a device subscribed to everything still receives only its own two inbound topics.
    const grants = await dev.subscribeAsync({ 'camd/#': { qos: 1 }, '#': { qos: 1 }, [`${BASE}/cmd/+`]: { qos: 1 }, [`${BASE}/config/desired`]: { qos: 1 } });
    expect(grants.every((g) => g.qos === 1)).toBe(true);
    const got: string[] = [];
    dev.on('message', (t) => got.push(t));
    const forOthers = [`camd/${OTHER}/cmd/reboot`, `camd/${OTHER}/config/desired`, `camd/${OTHER}/state`, `${BASE}/state`, `${BASE}/events`, 'camd/other-topic'];
    for (const t of forOthers) await cloud.publish(t, '{}');
    await cloud.publish(`${BASE}/cmd/status`, '{}');
    await cloud.publish(`${BASE}/config/desired`, '{}');
    await until(() => got.includes(`${BASE}/cmd/status`) && got.includes(`${BASE}/config/desired`), 'own inbound topics received');
    // Everything was published before the last two, and delivery per connection is in order.
    expect(got.filter((t) => forOthers.includes(t))).toEqual([]);
  });

  it('no client certificate, or one from another CA: no connection', async () => {
    const noCert = mqtt.connectAsync(broker.url, { protocolVersion: 5, ca: readFileSync(tls.ca), rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: patience(5000) });
    await expect(noCert).rejects.toThrow();
    const rogue = mqtt.connectAsync(broker.url, { protocolVersion: 5, ...clientOpts(SERIAL, true) });
    await expect(rogue).rejects.toThrow();
    // Plaintext MQTT on the TLS port is not a thing either.
    await expect(mqtt.connectAsync(broker.url.replace('mqtts:', 'mqtt:'), { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
  });

  it('the device refuses a broker it cannot verify and says why', async () => {
    const s = await bootDevice({ caFile: tls.rogueCa, certFile: tls.clients[SERIAL]!.cert, keyFile: tls.clients[SERIAL]!.key });
    const h = await until(() => (s.sup.state.get().cloud?.link === 'offline' ? s.sup.state.get().cloud : undefined), 'offline');
    expect(h.lastError).toMatch(/certificate|self.signed|verify/i);
    expect(h.connected).toBe(false);
    expect(s.sup.state.get().lifecycle).toBe('running');
  });
});
