import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cloudService } from '../../src/cloud/service.js';
import { STATE_WINDOW_MS } from '../../src/cloud/state-publisher.js';
import { EventPayloadSchema, PublishedStateSchema, ReplySchema, ReportedSchema } from '../../src/cloud/schema.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { Service } from '../../src/supervisor/service.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { CloudClient, cloudTestDir, ManualClock, tick, until } from './cloud-helpers.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;

let broker: Broker;
let sim: BootedSim | undefined;
let cloud: CloudClient | undefined;
let dir: string;

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker.dispose();
});
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
  await sim?.dispose();
  sim = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function boot(config: Record<string, unknown> = {}, clock = new ManualClock()): Promise<{ sim: BootedSim; clock: ManualClock }> {
  dir = cloudTestDir(broker.url, 'camd-cloud-', config);
  sim = await bootSim({ dir, clock, services: [coreCommands, cloudService] });
  return { sim, clock };
}

const health = (s: BootedSim) => s.sup.state.get().cloud!;

async function cloudClient(filter = `${BASE}/#`): Promise<CloudClient> {
  cloud = await CloudClient.connect(broker.url);
  await cloud.subscribe(filter);
  return cloud;
}

describe('cloud link against a real mosquitto', () => {
  it('announces itself: retained availability, schema-valid retained state and config/reported', async () => {
    const { sim: s } = await boot();
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient();
    const avail = await until(() => c.on(`${BASE}/availability`).at(-1), 'retained availability');
    expect(avail).toMatchObject({ text: 'online', retain: true });
    const state = await until(() => c.on(`${BASE}/state`).at(-1), 'retained state');
    expect(state.retain).toBe(true);
    const doc = PublishedStateSchema.parse(JSON.parse(state.text));
    expect(doc).toMatchObject({ serial: SERIAL, lifecycle: 'running', cloud: { link: 'online', connected: true, baseTopic: BASE } });
    expect(state.text).not.toMatch(/verificationCode|QWERTY|password/);
    const reported = await until(() => c.on(`${BASE}/config/reported`).find((m) => m.retain), 'retained reported');
    expect(ReportedSchema.parse(JSON.parse(reported.text))).toMatchObject({ lastDesired: null, config: { cloud: { url: broker.url } } });
  });

  it('answers every command exactly once: response topic + correlation data, or the fallback topic with requestId', async () => {
    const { sim: s } = await boot();
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient();
    const ok = await c.request(BASE, 'config.get', { path: 'device.name' });
    expect(ReplySchema.parse(ok)).toEqual({ ok: true, result: 'Camera' });

    await c.publish(`${BASE}/cmd/config.get`, JSON.stringify({ requestId: 'r-1', path: 'cloud.topicPrefix' }));
    const fallback = await until(() => c.json(`${BASE}/cmd/config.get/reply`).find((r) => r.requestId === 'r-1'), 'fallback reply');
    expect(fallback).toEqual({ ok: true, result: 'camd', requestId: 'r-1' });

    // A response topic outside the device's subtree is not used (the ACL would drop it): fallback.
    await c.subscribe('elsewhere/#');
    await c.publish(`${BASE}/cmd/config.get`, JSON.stringify({ requestId: 'r-2' }), { properties: { responseTopic: 'elsewhere/x', correlationData: Buffer.from('c2') } });
    const r2 = await until(() => c.on(`${BASE}/cmd/config.get/reply`).find((m) => m.correlationData?.toString() === 'c2'), 'fallback with correlation');
    expect(JSON.parse(r2.text)).toMatchObject({ ok: true, requestId: 'r-2' });
    expect(c.on('elsewhere/x')).toHaveLength(0);
    await tick();
    const replies = c.messages.filter((m) => m.topic.endsWith('/reply') || m.topic.includes('/reply/'));
    expect(replies).toHaveLength(3);
  });

  it('rejects bad input with a precise error, stays up and changes nothing', async () => {
    const { sim: s } = await boot();
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient();
    const before = s.sup.config.get();
    const cases: [string, string | Buffer, string, string?][] = [
      ['no.such.command', '{}', 'unknown_command'],
      ['sim.press', '{"button":"reset","ms":100}', 'unknown_command'], // local only
      ['config.get', '{not json', 'malformed'],
      ['config.get', Buffer.from([0xff, 0xfe, 0x7b]), 'malformed'],
      ['config.get', '[1,2]', 'invalid_args'],
      ['config.get', '{"path": 42}', 'invalid_args', 'path'],
      ['config.set', '{"patch":{"detection":{"human":{"sensitivity":101}}}}', 'invalid_args', 'detection.human.sensitivity'],
      ['config.set', '{"patch":{"device":{"name":"ok"},"detection":{"human":{"sensitivity":0}}}}', 'invalid_args', 'detection.human.sensitivity'],
      ['config.get', JSON.stringify({ path: 'x'.repeat(70_000) }), 'too_large'],
      ['config.get', '{"requestId": 7}', 'invalid_args', 'requestId'],
    ];
    for (const [name, payload, code, path] of cases) {
      const reply = await c.request(BASE, name, payload);
      expect(ReplySchema.parse(reply), `${name} ${String(payload).slice(0, 40)}`).toMatchObject({ ok: false, error: { code, ...(path && { path }) } });
    }
    expect(s.sup.config.get()).toEqual(before);
    // Retained command messages would replay on every connect: never executed.
    await c.publish(`${BASE}/cmd/config.set`, JSON.stringify({ requestId: 'ret', patch: { device: { name: 'Retained' } } }), { retain: true });
    const ret = await until(() => c.json(`${BASE}/cmd/config.set/reply`).find((r) => r.requestId === 'ret'), 'retained reply');
    expect(ret).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    await c.publish(`${BASE}/cmd/config.set`, '', { retain: true }); // clear it
    expect(s.sup.config.get().device.name).toBe('Camera');
    const logs = s.sup.logging.ring.recent().filter((l) => l.component === 'cloud' || l.component === 'commands');
    expect(logs.some((l) => /rejected|failed/.test(String(l.msg)))).toBe(true);
    expect(health(s).connected).toBe(true);
  });

  it('routes commands registered after the link came up', async () => {
    const { sim: s } = await boot();
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient();
    const late: Service = { name: 'late', start: async () => undefined, stop: async () => undefined };
    s.sup.commands.register(late, { name: 'late.echo', access: 'cloud', summary: 'test', args: z.object({ x: z.number().int().max(5) }).strict(), handler: ({ x }) => ({ x }) });
    expect(await c.request(BASE, 'late.echo', { x: 3 })).toEqual({ ok: true, result: { x: 3 } });
    expect(await c.request(BASE, 'late.echo', { x: 9 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'x' } });
  });

  it('syncs settings: an accepted desired patch applies and is reported; a rejected one changes nothing', async () => {
    const { sim: s } = await boot();
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient();
    await c.publish(`${BASE}/config/desired`, JSON.stringify({ $requestId: 'd1', detection: { human: { sensitivity: 30 } }, device: { name: 'Porch' } }));
    const accepted = await until(() => c.json<z.infer<typeof ReportedSchema>>(`${BASE}/config/reported`).find((r) => r.lastDesired?.requestId === 'd1'), 'accepted report');
    expect(accepted.lastDesired).toMatchObject({ result: 'accepted', changed: expect.arrayContaining(['detection.human.sensitivity', 'device.name']) });
    expect(accepted.config).toMatchObject({ device: { name: 'Porch' }, detection: { human: { sensitivity: 30 } } });
    expect(s.sup.config.get().detection.human.sensitivity).toBe(30);

    const before = s.sup.config.get();
    await c.publish(`${BASE}/config/desired`, JSON.stringify({ $requestId: 'd2', device: { name: 'Half' }, detection: { human: { sensitivity: 500 } } }));
    const rejected = await until(() => c.json<z.infer<typeof ReportedSchema>>(`${BASE}/config/reported`).find((r) => r.lastDesired?.requestId === 'd2'), 'rejected report');
    expect(rejected.lastDesired).toMatchObject({ result: 'rejected', error: { code: 'invalid_args', path: 'detection.human.sensitivity' } });
    expect(s.sup.config.get()).toEqual(before);
    expect(rejected.config).toEqual(JSON.parse(JSON.stringify(before)));

    await c.publish(`${BASE}/config/desired`, '{"device":');
    await until(() => c.json<z.infer<typeof ReportedSchema>>(`${BASE}/config/reported`).find((r) => r.lastDesired?.result === 'rejected' && r.lastDesired.error.code === 'malformed'), 'malformed report');
    // A local change (camctl) is reported too.
    await s.sup.config.patch({ device: { name: 'Local' } }, 'command');
    await until(() => c.json<z.infer<typeof ReportedSchema>>(`${BASE}/config/reported`).find((r) => (r.config as { device: { name: string } }).device.name === 'Local'), 'local change reported');
    const last = c.on(`${BASE}/config/reported`).at(-1)!;
    expect(ReportedSchema.parse(JSON.parse(last.text)).source).toBe('file');
  });

  it('coalesces state: a burst of changes gives one publish now and one with the latest state after the window', async () => {
    const { sim: s, clock } = await boot();
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient(`${BASE}/state`);
    await until(() => c.on(`${BASE}/state`).length > 0, 'initial state');
    await clock.advance(1000);
    await tick();
    const before = c.on(`${BASE}/state`).length;
    for (let i = 1; i <= 1000; i++) s.sup.state.set('liveViewers', i);
    await new Promise((r) => setTimeout(r, 100));
    const during = c.on(`${BASE}/state`).length - before;
    expect(during).toBeLessThanOrEqual(1);
    await clock.advance(STATE_WINDOW_MS); // [fleet] the state window (src/cloud/state-publisher.ts)
    const last = await until(() => c.json(`${BASE}/state`).find((d) => d.liveViewers === 1000), 'latest state');
    expect(last.liveViewers).toBe(1000);
    expect(c.on(`${BASE}/state`).length - before).toBeLessThanOrEqual(2);
  });

  it('delivers events in order; queues them while the broker is down and delivers them after, with no loss', async () => {
    const { sim: s, clock } = await boot({ network: { offlineGraceSeconds: 30 } });
    await until(() => health(s).connected, 'connected');
    // A persistent cloud-side session, as a real backend has: it must not miss events either.
    cloud = await CloudClient.connect(broker.url, { clientId: 'cloud-events', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await cloud.subscribe(`${BASE}/events`);
    await cloud.subscribe(`${BASE}/availability`);
    await cloud.subscribe(`${BASE}/state`);
    const c = cloud;
    const emit = (count: number, batch: string) => s.sup.commands.execute('sim.emit-event', { count, kind: 'detection', type: 'human.start', data: { batch } }, { source: 'local' });
    await emit(200, 'a');
    await until(() => c.on(`${BASE}/events`).length >= 200, '200 events');
    await broker.stop();
    await until(() => !health(s).connected, 'disconnected');
    expect(s.sup.state.get().faults['cloud.unreachable']).toBeUndefined();
    await emit(300, 'b');
    await clock.advance(31_000);
    expect(s.sup.state.get().faults['cloud.unreachable']).toMatchObject({ kind: 'network', component: 'cloud' });
    await clock.advance(300);
    expect(health(s).outbox.depth).toBe(300);
    const before = c.messages.length;
    await broker.start();
    // Let the backoff run out (time is ours), then the device reconnects and drains the outbox.
    for (let i = 0; i < 20 && !health(s).connected; i++) {
      await clock.advance(5_000);
      await until(() => health(s).link !== 'connecting', 'attempt done', 5000);
    }
    // At-least-once: events whose PUBACK was lost with the broker come again; count distinct ids.
    await until(() => new Set(c.json(`${BASE}/events`).map((e) => e.id)).size >= 500, 'all events after the outage', 15_000);
    expect(s.sup.state.get().faults['cloud.unreachable']).toBeUndefined();
    // Every reconnect announces itself again: availability and the full state.
    const after = c.messages.slice(before);
    expect(after.some((m) => m.topic === `${BASE}/availability` && m.text === 'online')).toBe(true);
    expect(after.some((m) => m.topic === `${BASE}/state` && JSON.parse(m.text).cloud.connected === true)).toBe(true);
    const evs = c.json<z.infer<typeof EventPayloadSchema>>(`${BASE}/events`).map((e) => EventPayloadSchema.parse(e));
    const firstSeen: number[] = [];
    const seen = new Set<string>();
    for (const e of evs) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      firstSeen.push(e.seq);
    }
    expect(seen.size).toBe(500);
    expect(firstSeen).toEqual([...firstSeen].sort((a, b) => a - b));
    const tags = evs.filter((e, i) => evs.findIndex((x) => x.id === e.id) === i).map((e) => `${String(e.data!.batch)}${String(e.data!.n)}`);
    expect(tags).toEqual([...Array.from({ length: 200 }, (_, i) => `a${i}`), ...Array.from({ length: 300 }, (_, i) => `b${i}`)]);
    await clock.advance(1000);
    await until(() => health(s).outbox.depth === 0 && health(s).outbox.inFlight === 0, 'outbox drained');
    expect(health(s).lastPubackAt).toBeDefined();
    await c.client.endAsync();
  });

  it('refuses plaintext mqtt:// unless allowPlaintext, with a fault and a clear error, and keeps running', async () => {
    const { sim: s } = await boot({ cloud: { url: broker.url, allowPlaintext: false } });
    await until(() => health(s).link === 'refused', 'refused');
    expect(health(s).lastError).toMatch(/plaintext .* refused/);
    expect(s.sup.state.get().faults['cloud.unreachable']).toMatchObject({ kind: 'network' });
    expect(s.sup.state.get().lifecycle).toBe('running');
    const r = await s.sup.commands.execute('sim.emit-event', { count: 3 }, { source: 'local' });
    expect(r).toMatchObject({ ok: true, result: { depth: 3 } });
  });

  it('factory reset erases the outbox', async () => {
    const { sim: s } = await boot({ cloud: { url: broker.url, allowPlaintext: false } });
    await s.sup.commands.execute('sim.emit-event', { count: 20, kind: 'alarm' }, { source: 'local' });
    const outboxDir = join(dir, 'data', 'outbox');
    expect(readdirSync(outboxDir).some((f) => f.startsWith('seg-'))).toBe(true);
    const res = await s.sup.factoryReset.run('test');
    expect(res.done).toContain('cloud-outbox');
    expect(readdirSync(outboxDir)).toEqual([]);
    await s.sup.commands.execute('sim.emit-event', { count: 1 }, { source: 'local' });
    expect(s.sup.state.get().cloud).toBeDefined();
  });

  it('identity: serial, code and label QR payload locally; not reachable from the cloud', async () => {
    const { sim: s } = await boot();
    const r = await s.sup.commands.execute('identity', {}, { source: 'local' });
    expect(r).toEqual({ ok: true, result: { serial: SERIAL, verificationCode: 'QWERTY', model: 'sim', qr: `CAMD:SN=${SERIAL};VC=QWERTY;M=sim`, baseTopic: BASE } });
    await until(() => health(s).connected, 'connected');
    const c = await cloudClient();
    expect(await c.request(BASE, 'identity', {})).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
  });
});
