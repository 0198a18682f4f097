import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cloudService } from '../../src/cloud/service.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import {
  CA_CNF,
  caScript,
  connectWithAck,
  issue,
  issueUnchecked,
  makeProductionPki,
  refused,
  revoke,
  startProductionBroker,
  type Leaf,
  type ProductionBroker,
} from '../harness/pki.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { CloudClient, ManualClock, until } from './cloud-helpers.js';

/**
 * scripts/mosquitto/production.conf, production.acl and production-backend.acl as shipped, on a
 * real mosquitto, with CAs made by scripts/mosquitto/camd-ca.sh (openssl ca): the device and
 * backend listeners, client id = certificate identity, revocation through the CRL with a SIGHUP,
 * and the device ACL in the directions of the contract.
 */
vi.setConfig(PROCESS_TIMEOUTS);
const run = promisify(execFile);

const SERIAL = 'CAMSIM0000001'; // the sim board's serial: the in-process daemon's identity
const OTHER = 'CAMOTHER00002';
const THIRD = 'CAMTHIRD00003';
const REVOKED = 'CAMREVOKE0004';
const BASE = `camd/${SERIAL}`;
const NOT_AUTHORIZED = 0x87;

let prod: ProductionBroker;
let sim: BootedSim | undefined;
let simDir: string | undefined;
const clients: mqtt.MqttClient[] = [];

beforeAll(async () => {
  const pki = await makeProductionPki({ devices: [SERIAL, OTHER, THIRD, REVOKED], backends: ['camd-cloud', 'analytics'], untrusted: [SERIAL] });
  prod = await startProductionBroker(pki);
});
afterAll(async () => {
  await prod?.dispose();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await sim?.dispose();
  sim = undefined;
  if (simDir) rmSync(simDir, { recursive: true, force: true });
  simDir = undefined;
});

const dev = (cn: string): Leaf => prod.pki.devices[cn]!;
const backendCert = (cn = 'camd-cloud'): Leaf => prod.pki.backends[cn]!;

async function device(leaf: Leaf, opts: IClientOptions = {}): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(prod.deviceUrl, prod.tlsOpts(leaf, { clientId: leaf.cn, ...opts }));
  clients.push(c);
  return c;
}

async function backend(opts: IClientOptions = {}): Promise<CloudClient> {
  const cloud = await CloudClient.connect(prod.backendUrl, prod.tlsOpts(backendCert(), opts));
  clients.push(cloud.client);
  return cloud;
}

/** PUBACK reason of a QoS 1 publish: 0 (delivered) or the broker's refusal code. */
async function pubCode(c: mqtt.MqttClient, topic: string, payload = '{}', retain = false): Promise<number> {
  return c.publishAsync(topic, payload, { qos: 1, retain }).then(
    () => 0,
    (e: { code?: number }) => e.code ?? -1,
  );
}

/** Messages a client receives, by topic. */
function inbox(c: mqtt.MqttClient): string[] {
  const got: string[] = [];
  c.on('message', (t) => got.push(t));
  return got;
}

async function bootDevice(leaf: Leaf, clock = new ManualClock()): Promise<BootedSim> {
  simDir = mkdtempSync(join(tmpdir(), 'camd-broker-'));
  mkdirSync(join(simDir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(simDir, 'data', 'config.json'), JSON.stringify({ cloud: { url: prod.deviceUrl, allowPlaintext: false } }));
  writeFileSync(join(simDir, 'data', 'secrets.json'), JSON.stringify({ mqtt: { caFile: prod.pki.serverCa, certFile: leaf.cert, keyFile: leaf.key } }), { mode: 0o600 });
  sim = await bootSim({ dir: simDir, clock, services: [coreCommands, cloudService] });
  return sim;
}

/** Whether mosquitto logged a connection with this client id and username (certificate CN). */
const connectedAs = (clientId: string, username: string): boolean =>
  new RegExp(`New client connected from \\S+ as ${clientId} \\(p\\d, c\\d, k\\d+, u'${username}'\\)`).test(prod.log());

describe('client id = certificate identity (use_username_as_clientid)', () => {
  it("a device connecting with another camera's serial as client id gets its own, and that camera stays connected", async () => {
    const s = await bootDevice(dev(SERIAL));
    await until(() => s.sup.state.get().cloud?.connected, 'daemon connected');
    const cloud = await backend();
    await cloud.subscribe(`camd/#`);
    await until(() => cloud.on(`${BASE}/availability`).find((m) => m.text === 'online'), 'online');
    const since = s.sup.state.get().cloud!.lastConnectedAt;

    // B has a valid device certificate (CN = its serial) and asks for A's client id.
    const { client: b } = await connectWithAck(prod.deviceUrl, prod.tlsOpts(dev(OTHER), { clientId: SERIAL }));
    clients.push(b);
    const bGot = inbox(b);
    expect(connectedAs(OTHER, OTHER)).toBe(true);
    // Without the option mosquitto logs this takeover and closes A's connection.
    expect(prod.log()).not.toContain(`Client ${SERIAL} already connected`);

    // A is untouched: a command round trip works, no will was published, the session is the same.
    expect(await cloud.request(BASE, 'status', {})).toMatchObject({ ok: true });
    expect(cloud.on(`${BASE}/availability`).map((m) => m.text)).not.toContain('offline');
    expect(s.sup.state.get().cloud).toMatchObject({ connected: true, lastConnectedAt: since });

    // B still has only its own subtree.
    expect(await pubCode(b, `${BASE}/state`, 'forged')).toBe(NOT_AUTHORIZED);
    expect(await pubCode(b, `${BASE}/cmd/reboot`)).toBe(NOT_AUTHORIZED);
    expect(await pubCode(b, `camd/${OTHER}/state`, '{"b":1}')).toBe(0);
    await until(() => cloud.on(`camd/${OTHER}/state`).find((m) => m.text === '{"b":1}'), "B's own state at the backend");
    await b.subscribeAsync({ '#': { qos: 1 } });
    await cloud.publish(`${BASE}/cmd/status`, '{}');
    await cloud.publish(`${BASE}/config/desired`, '{}');
    await cloud.publish(`camd/${OTHER}/cmd/status`, '{}');
    await until(() => bGot.includes(`camd/${OTHER}/cmd/status`), "B's own command");
    // Delivery from one publisher is in order: A's two were published before B's own.
    expect(bGot).toEqual([`camd/${OTHER}/cmd/status`]);
    expect(cloud.messages.filter((m) => m.text === 'forged')).toHaveLength(0);
  });

  it("a device cannot take over a backend connection's client id either", async () => {
    const { client: worker } = await connectWithAck(prod.backendUrl, prod.tlsOpts(backendCert(), { clientId: 'camd-cloud-worker-1' }));
    clients.push(worker);
    let closed = false;
    worker.on('close', () => (closed = true));
    await device(dev(THIRD), { clientId: 'camd-cloud-worker-1' });
    expect(connectedAs(THIRD, THIRD)).toBe(true);
    expect(prod.log()).not.toContain('Client camd-cloud-worker-1 already connected');
    // The worker's connection is the same one: its next publish is acknowledged on it.
    expect(await pubCode(worker, `camd/${THIRD}/cmd/status`)).toBe(0);
    expect(closed).toBe(false);
  });
});

describe('revocation (crlfile, camd-ca.sh revoke, SIGHUP)', () => {
  it('a revoked device certificate is refused once the CRL is installed and the broker reloaded; the others connect', async () => {
    for (const cn of [OTHER, THIRD, REVOKED]) expect(await refused(prod.deviceUrl, prod.tlsOpts(dev(cn)))).toBeUndefined();

    await revoke(prod.pki.deviceCa, dev(REVOKED));
    // Revoked in the CA's database and CRL only: the broker still has the old CRL.
    expect(await refused(prod.deviceUrl, prod.tlsOpts(dev(REVOKED)))).toBeUndefined();

    await prod.installCrl('device');
    const err = await refused(prod.deviceUrl, prod.tlsOpts(dev(REVOKED)));
    expect(err?.message).toMatch(/certificate revoked/);
    for (const cn of [OTHER, THIRD]) expect(await refused(prod.deviceUrl, prod.tlsOpts(dev(cn)))).toBeUndefined();
    // A revoked device certificate is not a backend certificate either.
    expect(await refused(prod.backendUrl, prod.tlsOpts(dev(REVOKED)))).toBeDefined();
  });

  it('a backend certificate is revoked the same way on the backend listener (key rotation)', async () => {
    const old = await issue(prod.pki.backendCa, 'camd-cloud', 'backend-camd-cloud-old');
    expect(await refused(prod.backendUrl, prod.tlsOpts(old))).toBeUndefined();
    await revoke(prod.pki.backendCa, old, 'superseded');
    await prod.installCrl('backend');
    expect((await refused(prod.backendUrl, prod.tlsOpts(old)))?.message).toMatch(/certificate revoked/);
    expect(await refused(prod.backendUrl, prod.tlsOpts(backendCert()))).toBeUndefined();
    expect(await refused(prod.deviceUrl, prod.tlsOpts(dev(OTHER)))).toBeUndefined();
  });

  it("a revoked device's live session survives the reload until the backend takes over its client id; the daemon then cannot reconnect", async () => {
    // The camera gets a second certificate (re-provisioning), so the first one stays usable for
    // the other tests; this one is stolen and revoked.
    const stolen = await issue(prod.pki.deviceCa, SERIAL, `device-${SERIAL}-stolen`);
    const clock = new ManualClock();
    const s = await bootDevice(stolen, clock);
    await until(() => s.sup.state.get().cloud?.connected, 'daemon connected');
    const cloud = await backend();
    await cloud.subscribe(`${BASE}/#`);
    await until(() => cloud.on(`${BASE}/availability`).find((m) => m.text === 'online'), 'online');

    await revoke(prod.pki.deviceCa, stolen);
    await prod.installCrl('device');
    // TLS checked the certificate at the handshake; a reload does not drop established sessions.
    expect(await cloud.request(BASE, 'status', {})).toMatchObject({ ok: true });

    // The documented kick: the backend connects with the device's serial as client id (the
    // backend listener does not force client ids) and leaves availability = offline, retained.
    const kickedAt = cloud.messages.length;
    const { hostname, port } = new URL(prod.backendUrl);
    await run('mosquitto_pub', ['-h', hostname, '-p', port, '--cafile', prod.pki.serverCa, '--cert', backendCert().cert, '--key', backendCert().key,
      '-i', SERIAL, '-t', `${BASE}/availability`, '-r', '-q', '1', '-m', 'offline']);
    await until(() => s.sup.state.get().cloud?.connected === false, 'the revoked session dropped');

    // Every reconnect (the backoff runs on the test's clock) is refused by the CRL.
    const h = await until(async () => {
      await clock.advance(10_000);
      const c = s.sup.state.get().cloud;
      return c && /revoked/.test(c.lastError ?? '') ? c : undefined;
    }, 'reconnects refused as revoked');
    expect(h.connected).toBe(false);
    expect(s.sup.state.get().lifecycle).toBe('running');
    expect(cloud.messages.slice(kickedAt).filter((m) => m.topic === `${BASE}/availability`).map((m) => m.text)).not.toContain('online');
    const retained = await CloudClient.connect(prod.backendUrl, prod.tlsOpts(backendCert()));
    clients.push(retained.client);
    await retained.subscribe(`${BASE}/availability`);
    expect((await until(() => retained.on(`${BASE}/availability`).at(-1), 'retained availability')).text).toBe('offline');
  });

  it('an expired CRL refuses every device (hence camd-ca.sh crl on a schedule); a re-issued one restores them', async () => {
    const expired = join(prod.pki.deviceCa.dir, 'expired.crl');
    await run('openssl', ['ca', '-config', CA_CNF, '-gencrl', '-crlexts', 'crl_ext', '-crl_lastupdate', '20200101000000Z', '-crl_nextupdate', '20200201000000Z', '-out', expired], {
      env: { ...process.env, CAMD_CA_DIR: prod.pki.deviceCa.dir },
    });
    await prod.installCrl('device', expired);
    try {
      for (const cn of [OTHER, THIRD]) expect((await refused(prod.deviceUrl, prod.tlsOpts(dev(cn))))?.message).toMatch(/expired/);
      // The backend listener has its own CRL and is unaffected.
      expect(await refused(prod.backendUrl, prod.tlsOpts(backendCert()))).toBeUndefined();
      const { stdout } = await caScript(['crl', prod.pki.deviceCa.dir]);
      expect(stdout).toMatch(/nextUpdate=/);
    } finally {
      // Also when an assertion failed: the other tests need a valid CRL.
      await prod.installCrl('device');
    }
    for (const cn of [OTHER, THIRD]) expect(await refused(prod.deviceUrl, prod.tlsOpts(dev(cn)))).toBeUndefined();
    expect((await refused(prod.deviceUrl, prod.tlsOpts(dev(REVOKED))))?.message).toMatch(/certificate revoked/);
  });

  it('camd-ca.sh signs only serial CNs on the device CA and backend-style CNs on the backend CA', async () => {
    const { deviceCa, backendCa } = prod.pki;
    const index = readFileSync(join(deviceCa.dir, 'index.txt'), 'utf8');
    const csr = async (subject: string): Promise<string> => {
      const file = join(prod.pki.dir, `req-${Buffer.from(subject).toString('hex')}`);
      await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', subject]);
      return `${file}.csr`;
    };
    const refusal = async (ca: string, subject: string): Promise<string> => {
      const out = join(prod.pki.dir, 'refused.crt');
      return caScript(['issue', ca, await csr(subject), out]).then(
        () => 'issued',
        (e: { stderr?: string }) => e.stderr ?? 'failed',
      );
    };
    // A '/' would put the CN's tail into another camera's topics (camd/%u/state with
    // %u = CAMSIM0000001/cmd is that camera's cmd/state); camd-cloud is a backend name; the rest
    // is not a serial.
    for (const subject of ['/CN=CAMSIM0000001\\/cmd', '/CN=camd-cloud', '/CN=cam000123456', '/CN=CAM1', '/O=camd/CN=CAM000123456'])
      expect(await refusal(deviceCa.dir, subject), subject).toMatch(/device subject must be exactly CN=<serial>|CSR subject must be exactly/);
    expect(await refusal(backendCa.dir, '/CN=CAM000123456')).toMatch(/backend subject must be exactly/);
    expect(readFileSync(join(deviceCa.dir, 'index.txt'), 'utf8')).toBe(index);
    // Revoking needs a certificate of that CA.
    await expect(caScript(['revoke', deviceCa.dir, backendCert().cert])).rejects.toMatchObject({ stderr: expect.stringMatching(/was not issued by/) });
  });
});

describe('backend identity: its own listener and CA', () => {
  it("a device certificate whose CN is the backend's gets only device rights on the device listener", async () => {
    // What a misused device CA could sign (camd-ca.sh refuses this CN).
    const mimic = await issueUnchecked(prod.pki.deviceCa, 'camd-cloud', 'device-mimic-camd-cloud');
    const cloud = await backend();
    await cloud.subscribe('camd/#');
    const m = await device(mimic, { clientId: 'camd-cloud' });
    expect(connectedAs('camd-cloud', 'camd-cloud')).toBe(true);
    for (const topic of [`${BASE}/cmd/reboot`, `${BASE}/config/desired`, `${BASE}/state`, `camd/${OTHER}/cmd/status`, 'other/topic'])
      expect(await pubCode(m, topic, 'mimic'), topic).toBe(NOT_AUTHORIZED);
    const got = inbox(m);
    await m.subscribeAsync({ '#': { qos: 1 }, 'camd/#': { qos: 1 } });
    for (const t of [`${BASE}/cmd/status`, `${BASE}/config/desired`, `camd/${OTHER}/cmd/status`, `camd/${OTHER}/state`]) await cloud.publish(t, '{}');
    await cloud.publish('camd/camd-cloud/cmd/status', '{}');
    await until(() => got.length > 0, 'its own (device) command topic');
    // Once per matching subscription (# and camd/#), nothing of anyone else's.
    expect([...new Set(got)]).toEqual(['camd/camd-cloud/cmd/status']);
    expect(cloud.messages.filter((x) => x.text === 'mimic')).toHaveLength(0);
  });

  it('device certificates are refused on the backend listener, backend certificates on the device listener', async () => {
    const mimic = await issueUnchecked(prod.pki.deviceCa, 'camd-cloud', 'device-mimic-camd-cloud-2');
    for (const leaf of [dev(SERIAL), mimic, prod.pki.untrusted[SERIAL]!]) {
      expect((await refused(prod.backendUrl, prod.tlsOpts(leaf)))?.message, leaf.cert).toMatch(/unknown ca|certificate/i);
    }
    for (const leaf of [backendCert(), backendCert('analytics'), prod.pki.untrusted[SERIAL]!]) {
      expect((await refused(prod.deviceUrl, prod.tlsOpts(leaf)))?.message, leaf.cert).toMatch(/unknown ca|certificate/i);
    }
    // No certificate at all: no connection on either.
    const bare: IClientOptions = { protocolVersion: 5, ca: readFileSync(prod.pki.serverCa), rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000 };
    expect(await refused(prod.deviceUrl, bare)).toBeDefined();
    expect(await refused(prod.backendUrl, bare)).toBeDefined();
  });

  it('the backend sees and commands every device; another backend-CA certificate gets nothing without its own ACL lines', async () => {
    const cloud = await backend();
    await cloud.subscribe('camd/#');
    const other = await device(dev(OTHER));
    const third = await device(dev(THIRD));
    await other.subscribeAsync(`camd/${OTHER}/cmd/+`, { qos: 1 });
    await third.subscribeAsync(`camd/${THIRD}/config/desired`, { qos: 1 });
    const gotOther = inbox(other);
    const gotThird = inbox(third);
    await cloud.publish(`camd/${OTHER}/cmd/status`, '{}');
    await cloud.publish(`camd/${THIRD}/config/desired`, '{}');
    await until(() => gotOther.length && gotThird.length, 'both devices commanded');
    expect(await pubCode(other, `camd/${OTHER}/events`, '{"e":1}')).toBe(0);
    expect(await pubCode(third, `camd/${THIRD}/events`, '{"e":3}')).toBe(0);
    await until(() => cloud.on(`camd/${OTHER}/events`).length && cloud.on(`camd/${THIRD}/events`).length, 'both devices seen');

    const analytics = await mqtt.connectAsync(prod.backendUrl, prod.tlsOpts(backendCert('analytics'), { clientId: 'analytics-1' }));
    clients.push(analytics);
    expect(await pubCode(analytics, `camd/${OTHER}/cmd/reboot`)).toBe(NOT_AUTHORIZED);
    const seen = inbox(analytics);
    await analytics.subscribeAsync('camd/#', { qos: 1 });
    expect(await pubCode(other, `camd/${OTHER}/events`, '{"e":2}')).toBe(0);
    await until(() => cloud.on(`camd/${OTHER}/events`).length >= 2, 'second event at the backend');
    // Delivered to camd-cloud by now; analytics, subscribed before the publish, got nothing.
    expect(await pubCode(analytics, 'camd/x', '{}')).toBe(NOT_AUTHORIZED);
    expect(seen).toEqual([]);
  });
});

describe('device ACL: camd/<serial>/ in the directions of the contract', () => {
  it('a device publishes exactly availability, state, telemetry, events, config/reported, cmd/<name>/reply and reply/<…>', async () => {
    const cloud = await backend();
    await cloud.subscribe('#');
    const d = await device(dev(THIRD));
    const b = `camd/${THIRD}`;
    const allowed = [`${b}/availability`, `${b}/state`, `${b}/telemetry`, `${b}/events`, `${b}/config/reported`, `${b}/cmd/status/reply`, `${b}/cmd/ptz.goto/reply`, `${b}/reply/x`, `${b}/reply/app-7/req-1`];
    const denied = [
      `${b}/reply`, // bare reply: `#` would also match its parent level
      `${b}/cmd/status`, // its own commands
      `${b}/config/desired`, // its own desired settings
      `${b}/cmd/status/reply/x`,
      `${b}/cmd/a/b/reply`,
      `${b}/state/x`,
      `${b}/telemetry/x`,
      `${b}/events/x`,
      `${b}/config`,
      `${b}/other`,
      b,
      `${b}x/state`,
      `camd/${OTHER}/state`,
      `camd/${OTHER}/cmd/status/reply`,
      `camd/${OTHER}/reply/x`,
      'camd',
      'elsewhere',
    ];
    for (const t of allowed) expect(await pubCode(d, t, `ok:${t}`), t).toBe(0);
    for (const t of denied) expect(await pubCode(d, t, `denied:${t}`), t).toBe(NOT_AUTHORIZED);
    // Retained as well (availability, state and config/reported are retained).
    expect(await pubCode(d, `${b}/state`, 'retained', true)).toBe(0);
    expect(await pubCode(d, `${b}/cmd/status`, 'retained', true)).toBe(NOT_AUTHORIZED);
    await until(() => allowed.every((t) => cloud.on(t).length > 0), 'every allowed publish at the backend');
    expect(cloud.messages.filter((m) => m.text.startsWith('denied:') || (m.text === 'retained' && m.topic !== `${b}/state`))).toEqual([]);
  });

  it('a device receives only its own cmd/<name> and config/desired, retained or not', async () => {
    const cloud = await backend();
    const b = `camd/${THIRD}`;
    // Retained documents on its own outbound topics, left by the device or the backend: never read back.
    for (const t of [`${b}/state`, `${b}/telemetry`, `${b}/availability`, `${b}/config/reported`, `camd/${OTHER}/state`]) await cloud.publish(t, 'retained-doc', { retain: true });
    const d = await device(dev(THIRD));
    const got = inbox(d);
    await d.subscribeAsync({ '#': { qos: 1 }, [`${b}/#`]: { qos: 1 } });
    const notForIt = [`${b}/events`, `${b}/reply/x`, `${b}/cmd/status/reply`, `${b}/cmd/a/b`, `${b}/config/reported`, `camd/${OTHER}/cmd/status`, `camd/${OTHER}/config/desired`];
    for (const t of notForIt) await cloud.publish(t, '{}');
    await cloud.publish(`${b}/cmd/status`, '{}');
    await cloud.publish(`${b}/config/desired`, '{}');
    await until(() => got.includes(`${b}/cmd/status`) && got.includes(`${b}/config/desired`), 'its own inbound topics');
    expect([...new Set(got)]).toEqual([`${b}/cmd/status`, `${b}/config/desired`]);
    // Clear the retained documents again for the other tests.
    for (const t of [`${b}/state`, `${b}/telemetry`, `${b}/availability`, `${b}/config/reported`, `camd/${OTHER}/state`]) await cloud.publish(t, '', { retain: true });
  });
});
