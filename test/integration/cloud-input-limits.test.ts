import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import type { z } from 'zod';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cloudService } from '../../src/cloud/service.js';
import { ReplySchema, ReportedSchema } from '../../src/cloud/schema.js';
import { controlServer } from '../../src/control/server.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { CloudClient, cloudTestDir, until } from './cloud-helpers.js';

/**
 * Deeply nested JSON and a byte order mark, through a real broker into the daemon's real command
 * router and settings sync, and as a raw line on the control socket. Before the depth limit the
 * 64 KiB worst case overflowed the stack after the parser and came back as `failed: Maximum
 * call stack size exceeded`; a BOM was silently dropped.
 */
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The deepest object a 64 KiB payload can hold around `{"patch": …}` (≈ 10 900 levels). */
const deepPatch = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

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

async function boot(): Promise<BootedSim> {
  dir = cloudTestDir(broker.url, 'camd-limits-');
  sim = await bootSim({ dir, services: [controlServer, coreCommands, cloudService] });
  await until(() => sim!.sup.state.get().cloud?.connected, 'connected', 20_000);
  cloud = await CloudClient.connect(broker.url);
  await cloud.subscribe(`${BASE}/#`);
  return sim;
}

/** One raw request line on the control socket, one reply line back. */
function rawLine(socket: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.destroy();
      resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
    });
    s.on('error', reject);
    s.write(`${line}\n`);
  });
}

describe('nesting limit and byte order mark (real broker, real control socket)', () => {
  it('cmd/<name>: 64 KiB of nesting is invalid_args with the path, a BOM is malformed; nothing changes, the link stays up', async () => {
    const s = await boot();
    const c = cloud!;
    const before = s.sup.config.get();
    const levels = Math.floor((64 * 1024 - 40) / 6);
    const deep = `{"requestId":"deep-1","patch":${deepPatch(levels)}}`;
    expect(Buffer.byteLength(deep)).toBeLessThanOrEqual(64 * 1024);
    const r1 = ReplySchema.parse(await c.request(BASE, 'config.set', deep));
    expect(r1).toMatchObject({ ok: false, requestId: 'deep-1', error: { code: 'invalid_args', message: expect.stringMatching(/^JSON nested deeper than 32 levels \(at patch(\.a){31}\)$/) } });
    // Exactly at the limit it reaches the command (and the schema says what is wrong).
    const r2 = ReplySchema.parse(await c.request(BASE, 'config.set', `{"patch":${deepPatch(31)}}`));
    expect(r2).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'a' } });

    const bom = Buffer.concat([BOM, Buffer.from('{"requestId":"bom-1","patch":{"device":{"name":"Bom"}}}')]);
    const r3 = ReplySchema.parse(await c.request(BASE, 'config.set', bom));
    expect(r3).toEqual({ ok: false, requestId: 'bom-1', error: { code: 'malformed', message: 'payload starts with a UTF-8 byte order mark; send plain UTF-8 JSON' } });
    expect(s.sup.config.get()).toEqual(before);

    // The same over the fallback topic (no response topic), for MQTT 3.1.1-style callers.
    await c.publish(`${BASE}/cmd/config.get`, Buffer.concat([BOM, Buffer.from('{"requestId":"bom-2"}')]));
    const fb = await until(() => c.json(`${BASE}/cmd/config.get/reply`).find((r) => r.requestId === 'bom-2'), 'fallback reply to a BOM');
    expect(fb).toMatchObject({ ok: false, error: { code: 'malformed' } });

    // Still working.
    expect(await c.request(BASE, 'config.set', { patch: { device: { name: 'Fine' } } })).toMatchObject({ ok: true });
    expect(s.sup.config.get().device.name).toBe('Fine');
    expect(s.sup.state.get().cloud?.connected).toBe(true);
    expect(s.sup.state.get().lifecycle).toBe('running');
  }, 60_000);

  it('config/desired: too deep and BOM are rejected and reported; nothing changes', async () => {
    const s = await boot();
    const c = cloud!;
    const before = s.sup.config.get();
    const reported = (id: string) => c.json<z.infer<typeof ReportedSchema>>(`${BASE}/config/reported`).find((r) => r.lastDesired?.requestId === id);
    const levels = Math.floor((64 * 1024 - 40) / 6);
    await c.publish(`${BASE}/config/desired`, `{"$requestId":"d-deep","detection":${deepPatch(levels)}}`);
    const deep = await until(() => reported('d-deep'), 'deep desired reported', 20_000);
    expect(deep.lastDesired).toMatchObject({ result: 'rejected', error: { code: 'invalid_args', message: expect.stringMatching(/nested deeper than 32 levels/) } });

    await c.publish(`${BASE}/config/desired`, Buffer.concat([BOM, Buffer.from('{"$requestId":"d-bom","device":{"name":"Bom"}}')]));
    const bom = await until(() => reported('d-bom'), 'BOM desired reported', 20_000);
    expect(bom.lastDesired).toMatchObject({ result: 'rejected', error: { code: 'malformed', message: 'payload starts with a UTF-8 byte order mark; send plain UTF-8 JSON' } });
    expect(s.sup.config.get()).toEqual(before);
    expect(ReportedSchema.parse(bom).config).toEqual(JSON.parse(JSON.stringify(before)));
  }, 60_000);

  it('control socket: a 64 KiB line of nested objects in args is invalid_args; the daemon answers the next request', async () => {
    const s = await boot();
    const levels = Math.floor((64 * 1024 - 60) / 6);
    const line = `{"id":7,"cmd":"config.set","args":{"patch":{"x":${deepPatch(levels)}}}}`;
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(64 * 1024);
    const r = await rawLine(s.sup.paths.socket, line);
    expect(r).toMatchObject({ id: 7, ok: false, error: { code: 'invalid_args', message: expect.stringMatching(/^JSON nested deeper than 32 levels \(at patch\.x(\.a){30}\)$/) } });
    const st = await rawLine(s.sup.paths.socket, '{"id":8,"cmd":"config.get","args":{"path":"device.name"}}');
    expect(st).toEqual({ id: 8, ok: true, result: 'Camera' });
  }, 60_000);
});
