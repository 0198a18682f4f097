import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { type DaemonProc } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { waitUntil } from '../harness/wait.js';
import { CloudClient } from '../integration/cloud-helpers.js';
import { brokerConfig, connectedDaemon, faultSeed, figures, prepareDir, rssKiB } from './fault-kit.js';
import { canBreak, deepJson, NASTY_KEYS, nearMissArb, RAW_BAD, surelyInvalid, validArb, type Schema } from './schema-fuzz.js';

/**
 * Fuzzing every command and `config/desired` with a fixed seed, over a real Mosquitto against a
 * real daemon process, and every command over the real control socket:
 *
 * - exactly one reply per request, on the topic the contract names, with a precise error code;
 * - nothing changes: config.json, its last-good copy, config/reported and the secrets file are
 *   byte-identical afterwards (commands that would change something only ever get arguments
 *   that provably fail validation; read-only ones also get valid ones, which are counted);
 * - no secret in any reply; the daemon is alive (same pid) and its RSS stays bounded.
 *
 * `CAMD_FAULT_SEED` replays another seed; `CAMD_FUZZ_SCALE` multiplies the number of payloads.
 */
const SEED = faultSeed(20_261_201);
const SCALE = Math.max(0.05, Number(process.env.CAMD_FUZZ_SCALE) || 1);
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;
const REPLY_TOPIC = `${BASE}/reply/fuzz`;

/** Payload counts (× SCALE): MQTT commands, config/desired, control-socket lines. */
const N_CMD = Math.ceil(1600 * SCALE);
const N_DESIRED = Math.ceil(500 * SCALE);
const N_SOCKET = Math.ceil(600 * SCALE);
const N_BURST = 120;

/** Commands that only read: they also get valid arguments. Every other command is "mutating". */
const READ_ONLY = new Set(['status', 'commands', 'config.get', 'config.schema', 'cloud.schema', 'alarm.get', 'led.get', 'ptz.get', 'detection.get', 'recordings.list', 'identity']);
/** Streams on the socket, outside the command table: not fuzzed (a valid one never ends). */
const STREAMS = new Set(['logs.follow', 'events.follow']);
const ERROR_CODES = new Set(['unknown_command', 'malformed', 'invalid_args', 'too_large', 'busy', 'forbidden', 'confirmation_required', 'unavailable', 'not_found', 'conflict']);

const SECRETS = {
  binding: { token: 'fuzz-binding-token-7c1e9a', boundAt: 1_700_000_000_000 },
  mqtt: { username: 'camd-fuzz', password: 'fuzz-mqtt-password-5b2d' },
};
const SECRET_TEXTS = [SECRETS.binding.token, SECRETS.mqtt.password];

interface CommandInfo {
  name: string;
  access: string;
  args: Schema;
}

interface Case {
  id: number;
  name: string;
  cls: string;
  payload: Buffer;
  /** The arguments can be valid (read-only commands only). */
  mayRun: boolean;
  retain?: boolean;
  responseTopic?: string;
}

interface Reply {
  topic: string;
  body: { ok: boolean; result?: unknown; error?: { code: string; message: string }; requestId?: string; id?: unknown };
  text: string;
}

let broker: Broker;
let dir: string;
let daemon: DaemonProc;
let cloud: CloudClient;
const byCorr = new Map<string, Reply[]>();
const reported: { text: string; doc: Record<string, unknown> }[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  dir = prepareDir(brokerConfig(broker.url), SECRETS, 'camd-fuzz-');
  daemon = await connectedDaemon(dir);
  cloud = await CloudClient.connect(broker.url, { clientId: 'fuzz-cloud' });
  cloud.client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    if (topic === `${BASE}/config/reported`) {
      reported.push({ text, doc: JSON.parse(text) as Record<string, unknown> });
      return;
    }
    const corr = packet.properties?.correlationData;
    if (!corr) return;
    const list = byCorr.get(Buffer.from(corr).toString('hex')) ?? [];
    list.push({ topic, text, body: JSON.parse(text) as Reply['body'] });
    byCorr.set(Buffer.from(corr).toString('hex'), list);
  });
  // Everything under the base (no-local: not our own requests), so a reply on a wrong topic shows.
  await cloud.client.subscribeAsync(`${BASE}/#`, { qos: 1, nl: true, rap: true });
  await waitUntil(() => reported.length > 0 || undefined, 'the retained config/reported');
});

afterEach((ctx) => {
  // A failure shows what the daemon said last.
  if (ctx.task.result?.state === 'fail' && daemon) console.log(`daemon output (tail):\n${daemon.output().slice(-4000)}`);
});

afterAll(async () => {
  await cloud?.close();
  if (daemon && daemon.proc.exitCode === null) {
    daemon.proc.kill('SIGTERM');
    await daemon.exited;
  }
  await broker?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What must not change, byte for byte. */
function snapshot(): Record<string, string> {
  const read = (f: string): string => {
    try {
      return readFileSync(join(dir, 'data', f), 'utf8');
    } catch {
      return '(absent)';
    }
  };
  return { config: read('config.json'), lastGood: read('config.json.last-good'), secrets: read('secrets.json') };
}

function reportedCore(doc: Record<string, unknown>): string {
  return JSON.stringify({ config: doc.config, source: doc.source, pendingRestart: doc.pendingRestart });
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Seeded payload generation for one command (or config/desired with `merge`). */
function casesFor(cmd: CommandInfo, count: number, seed: number, opts: { merge?: Schema; forbiddenProbes?: unknown[] } = {}): Omit<Case, 'id'>[] {
  const mayRun = READ_ONLY.has(cmd.name);
  const schema = cmd.args;
  const mode = { merge: false };
  const text = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const patchOf = (p: unknown): unknown => ({ patch: p });
  const classes: { cls: string; weight: number; arb: fc.Arbitrary<Buffer> }[] = [
    { cls: 'random-json', weight: 3, arb: fc.jsonValue({ maxDepth: 4 }).map(text) },
    { cls: 'random-object', weight: 3, arb: fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...NASTY_KEYS, ...Object.keys(schema.properties ?? {}))), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }).map(text) },
    ...(canBreak(schema) ? [{ cls: 'near-miss', weight: 6, arb: nearMissArb(schema, mode).map(text) }] : []),
    { cls: 'wrong-root', weight: 1, arb: fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)).map(text) },
    { cls: 'raw-bad', weight: 1, arb: fc.constantFrom(...RAW_BAD) },
    {
      cls: 'huge',
      weight: 1,
      arb: fc.constantFrom(
        text({ zz_big: 'x'.repeat(70_000) }),
        // Every property a 50 000-character string (one alone stays under the 64 KiB limit).
        text(Object.fromEntries(Object.keys(schema.properties ?? {}).concat('zz_huge').map((k) => [k, 'y'.repeat(50_000)]))),
        text({ zz_list: Array.from({ length: 12_000 }, (_, i) => i) }),
        text(Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`k${i}`, i]))),
        Buffer.alloc(150_000, 0x20),
        text({ zz: 1e308, zy: -1e308, zx: 2 ** 80 }),
      ),
    },
    {
      cls: 'deep',
      weight: 1,
      arb: fc.constantFrom(
        Buffer.from(`{"zz_deep":${deepJson(30_000, 'array')}}`),
        Buffer.from(`{"zz_deep":${deepJson(12_000, 'object')}}`),
        Buffer.from(deepJson(30_000, 'array')),
        Buffer.from(`{"zz_deep":${deepJson(200, 'object')}}`),
      ),
    },
    { cls: 'bad-request-id', weight: 1, arb: fc.constantFrom({ requestId: 5 }, { requestId: '' }, { requestId: 'r'.repeat(129) }, { requestId: null }, { requestId: ['a'] }).map(text) },
  ];
  if (mayRun) classes.push({ cls: 'valid', weight: 4, arb: validArb(schema).map(text) });
  if (opts.merge) {
    // config.set: the patch is what config validation sees (a merge over the running config).
    const m = { merge: true };
    const patchSchema = opts.merge;
    classes.push(
      { cls: 'patch-near-miss', weight: 8, arb: nearMissArb(patchSchema, m).map((p) => text(patchOf(p))) },
      { cls: 'patch-random', weight: 2, arb: fc.jsonValue({ maxDepth: 4 }).map((p) => text(patchOf(p))) },
      { cls: 'patch-deep', weight: 1, arb: fc.constantFrom(Buffer.from(`{"patch":{"detection":${deepJson(12_000, 'object')}}}`), Buffer.from(`{"patch":{"ptz":{"presets":${deepJson(30_000, 'array')}}}}`)) },
    );
  }
  if (opts.forbiddenProbes?.length) classes.push({ cls: 'forbidden-probe', weight: 2, arb: fc.constantFrom(...opts.forbiddenProbes).map((p) => text(patchOf(p))) });
  const picked = fc.sample(
    fc.oneof(...classes.map((c) => ({ weight: c.weight, arbitrary: c.arb.map((payload) => ({ cls: c.cls, payload })) }))),
    { seed, numRuns: count },
  );
  return picked.map((p, i) => {
    // The deep documents are invalid by construction (an unknown key or a wrong type a few
    // levels down) and too deep to re-serialise on this side.
    const deep = p.cls === 'deep' || p.cls === 'patch-deep';
    const base = { name: cmd.name, cls: p.cls };
    if (mayRun) return { ...base, payload: p.payload, mayRun: !deep && !provablyInvalid(p.payload, schema, opts.merge) };
    return { ...base, payload: deep || p.cls === 'forbidden-probe' ? p.payload : ensureInvalid(p.payload, schema, opts.merge, seed + i), mayRun: false };
  });
}

/**
 * Whether the arguments certainly fail validation *as the router sees them*: not JSON, not an
 * object, a bad `requestId`, or an object surelyInvalid says no schema accepts once a valid
 * `requestId` string is removed (`{"requestId":"x"}` is `{}`, which reboots for `reboot`).
 */
function provablyInvalid(payload: Buffer, schema: Schema, configSchema: Schema | undefined): boolean {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return true;
  }
  if (!isPlain(v)) return true;
  const { requestId, ...rest } = v;
  if ('requestId' in v && !(typeof requestId === 'string' && requestId.length >= 1 && requestId.length <= 128)) return true;
  const seen = 'requestId' in v ? rest : v;
  if (surelyInvalid(schema, seen)) return true;
  // config.set: the patch must fail the config's own validation (merged over the running one).
  return !!configSchema && isPlain(seen.patch) && surelyInvalid(configSchema, seen.patch, { merge: true });
}

/**
 * The last guard before a payload goes to a command that could change something: unless it is
 * provably invalid, an unknown key is added, which every (strict) argument schema refuses.
 */
function ensureInvalid(payload: Buffer, schema: Schema, configSchema: Schema | undefined, salt: number): Buffer {
  if (provablyInvalid(payload, schema, configSchema)) return payload;
  const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...v, [`zz_fuzz_${salt}`]: salt }));
}

/** Valid changes of settings the cloud may not change (local-only groups): must be refused. */
function forbiddenProbes(config: Record<string, unknown>): unknown[] {
  const cloudCfg = config.cloud as Record<string, unknown>;
  return [
    { cloud: null },
    { cloud: { url: 'mqtt://127.0.0.1:1884' } },
    { cloud: { allowPlaintext: !cloudCfg.allowPlaintext } },
    { cloud: { topicPrefix: 'evil' } },
    { cloud: { keepaliveSeconds: Number(cloudCfg.keepaliveSeconds) === 30 ? 31 : 30 } },
    { live: null },
    { version: 99 },
  ];
}

/** The error code a reply must have, if it is an error: a precise one from the contract. */
function checkReply(r: Reply, problems: string[], c: { id: number; name: string; cls: string }): void {
  if (typeof r.body.ok !== 'boolean') problems.push(`case ${c.id} (${c.name}/${c.cls}): reply without ok: ${r.text.slice(0, 200)}`);
  if (!r.body.ok && !ERROR_CODES.has(r.body.error?.code ?? '')) problems.push(`case ${c.id} (${c.name}/${c.cls}): imprecise error ${JSON.stringify(r.body.error).slice(0, 300)}`);
  for (const s of SECRET_TEXTS) if (r.text.includes(s)) problems.push(`case ${c.id} (${c.name}/${c.cls}): a secret in the reply`);
}

describe('fuzzing every command and config/desired (real broker, real daemon process)', () => {
  it('one precise reply each, nothing changed, no secret out, daemon alive with bounded memory', async () => {
    const pid = daemon.proc.pid!;
    const local = (await daemon.call('commands')) as { ok: true; result: CommandInfo[] };
    // What the cloud sees (local-only commands do not exist for it).
    const cloudList = (await requestCmd({ id: -1, name: 'commands', cls: 'setup', payload: Buffer.from('{}'), mayRun: true, responseTopic: REPLY_TOPIC })).body.result as CommandInfo[];
    const configSchema = ((await daemon.call('config.schema')) as { result: Schema }).result;
    const running = ((await daemon.call('config.get')) as { result: Record<string, unknown> }).result;
    const localOnly = local.result.filter((c) => c.access === 'local').map((c) => c.name);
    expect(cloudList.length).toBeGreaterThan(10);
    expect(cloudList.map((c) => c.name)).not.toContain('sim.emit-event');

    const before = snapshot();
    const reportedBefore = reportedCore(reported.at(-1)!.doc);
    const rss: number[] = [rssKiB(pid)!];
    const problems: string[] = [];
    const validRan = new Map<string, number>();
    const codes = new Map<string, number>();
    const count = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
    const started = Date.now();

    // --- 1. MQTT commands ------------------------------------------------------------------
    const targets: CommandInfo[] = [
      ...cloudList,
      // Local-only commands and made-up names do not exist for the cloud: unknown_command.
      ...localOnly.map((name) => ({ name, access: 'local', args: local.result.find((c) => c.name === name)!.args })),
      ...['STATUS', 'status ', '..', 'x'.repeat(300), 'sim.emit-event.x', '🙂', 'config.set.', 'logs.follow'].map((name) => ({ name, access: 'none', args: {} })),
    ];
    const perTarget = Math.ceil(N_CMD / targets.length);
    const cmdCases: Case[] = [];
    const responseTopics = [REPLY_TOPIC, REPLY_TOPIC, REPLY_TOPIC, REPLY_TOPIC, undefined, 'elsewhere/reply', `${BASE}/cmd/reboot`, `${BASE}/config/desired`, `${BASE}/events`, `${BASE}/reply/`, `${BASE}/reply/${'x'.repeat(1100)}`];
    targets.forEach((t, ti) => {
      const isCloud = cloudList.some((c) => c.name === t.name);
      const merge = t.name === 'config.set' ? configSchema : undefined;
      const generated = casesFor(isCloud ? t : { ...t, name: t.name }, perTarget, SEED + ti, { ...(merge && { merge, forbiddenProbes: forbiddenProbes(running) }) });
      generated.forEach((g, gi) => {
        cmdCases.push({ ...g, id: cmdCases.length, mayRun: isCloud && g.mayRun, responseTopic: responseTopics[(ti * 7 + gi) % responseTopics.length] });
      });
    });
    // A few retained requests: never executed (they would replay on every connect).
    for (let i = 0; i < 10; i++) cmdCases.push({ id: cmdCases.length, name: cloudList[(i * 5) % cloudList.length]!.name, cls: 'retained', payload: Buffer.from('{}'), mayRun: false, retain: true, responseTopic: REPLY_TOPIC });

    const phaseMs: Record<string, number> = {};
    const classMs = new Map<string, number>();
    let t0 = Date.now();
    for (const c of cmdCases) {
      const tc = Date.now();
      const r = await requestCmd(c);
      classMs.set(`${c.cls}`, (classMs.get(c.cls) ?? 0) + Date.now() - tc);
      const expectTopic = c.responseTopic && isReplyTopic(c.responseTopic) ? c.responseTopic : `${BASE}/cmd/${c.name}/reply`;
      if (r.topic !== expectTopic) problems.push(`case ${c.id} (${c.name}/${c.cls}): reply on ${r.topic}, expected ${expectTopic}`);
      checkReply(r, problems, c);
      if (r.body.ok) {
        if (!c.mayRun) problems.push(`case ${c.id} (${c.name}/${c.cls}): accepted although invalid: ${c.payload.toString('utf8').slice(0, 300)}`);
        else count(validRan, `mqtt:${c.name}`);
      } else count(codes, r.body.error!.code);
      if (c.cls === 'forbidden-probe' && r.body.ok) problems.push(`case ${c.id}: a local-only setting accepted from the cloud: ${c.payload.toString('utf8')}`);
      if (c.id % 100 === 0) rss.push(rssKiB(pid) ?? -1);
    }

    // A flood: requests without waiting for replies; each still gets exactly one (maybe `busy`).
    const burst: Case[] = Array.from({ length: N_BURST }, (_, i) => ({ id: cmdCases.length + i, name: cloudList[i % cloudList.length]!.name, cls: 'burst', payload: Buffer.from(`{"zz_burst":${i}}`), mayRun: false, responseTopic: REPLY_TOPIC }));
    await Promise.all(burst.map((c) => publishCmd(c)));
    for (const c of burst) {
      const r = await waitReply(c);
      checkReply(r, problems, c);
      if (r.body.ok) problems.push(`burst case ${c.id}: accepted`);
      else count(codes, r.body.error!.code);
    }
    rss.push(rssKiB(pid) ?? -1);
    phaseMs.mqtt = Date.now() - t0;
    t0 = Date.now();

    // --- 2. config/desired -------------------------------------------------------------------
    const desiredCases = casesFor({ name: 'config/desired', access: 'cloud', args: configSchema }, N_DESIRED, SEED + 10_000, {});
    // casesFor aims at the args schema; for desired the document itself is the merge patch.
    const desiredPatches = fc.sample(
      fc.oneof(
        { weight: 8, arbitrary: nearMissArb(configSchema, { merge: true }).map((p) => ({ cls: 'patch-near-miss', doc: p })) },
        { weight: 2, arbitrary: fc.constantFrom(...forbiddenProbes(running)).map((p) => ({ cls: 'forbidden-probe', doc: p })) },
        { weight: 1, arbitrary: fc.constantFrom({ $requestId: 7 }, { $requestId: '' }, { $requestId: 'r'.repeat(129) }).map((p) => ({ cls: 'bad-request-id', doc: p })) },
      ),
      { seed: SEED + 20_000, numRuns: N_DESIRED },
    );
    const desired: { id: number; cls: string; payload: Buffer; retain?: boolean; requestId?: string }[] = [];
    for (const [i, p] of desiredPatches.entries()) {
      const requestId = `fz-d${i}`;
      let doc = p.doc;
      if (p.cls === 'patch-near-miss' && isPlain(doc)) {
        // The generator may itself have put a `$requestId` in; the device removes it before
        // validation, so what is left must still be invalid.
        const { $requestId: _ignored, ...rest } = doc;
        if (!surelyInvalid(configSchema, rest, { merge: true })) doc = { ...rest, zz_fuzz: 1 };
        else doc = rest;
      }
      if (isPlain(doc) && !('$requestId' in doc)) doc = { ...doc, $requestId: requestId };
      desired.push({ id: i, cls: p.cls, payload: Buffer.from(JSON.stringify(doc)), ...(isPlain(doc) && doc.$requestId === requestId && { requestId }) });
    }
    for (const g of desiredCases) {
      // Random, raw, huge and deep documents (the near misses above are the config's own).
      if (g.cls === 'near-miss' || g.cls === 'valid' || g.cls === 'bad-request-id') continue;
      // As for commands: unless the document provably fails the config's validation as the
      // device sees it (a valid `$requestId` string removed), an unknown key makes sure it does.
      let payload = g.payload;
      try {
        const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(g.payload)) as unknown;
        if (isPlain(v)) {
          const { $requestId: rid, ...rest } = v;
          const ridOk = typeof rid === 'string' && rid.length >= 1 && rid.length <= 128;
          if (!('$requestId' in v && !ridOk) && !surelyInvalid(configSchema, '$requestId' in v ? rest : v, { merge: true })) payload = Buffer.from(JSON.stringify({ ...v, zz_fuzz: 1 }));
        }
      } catch {
        // Not JSON at all: sent as it is.
      }
      desired.push({ id: desired.length, cls: g.cls, payload });
    }
    for (let i = 0; i < 5; i++) desired.push({ id: desired.length, cls: 'retained', payload: Buffer.from(JSON.stringify({ device: { name: `retained-${i}` } })), retain: true });

    const desiredOutcomes = new Map<string, number>();
    for (const dc of desired) {
      const n = reported.length;
      await cloud.publish(`${BASE}/config/desired`, dc.payload, { qos: 1, retain: !!dc.retain });
      await waitUntil(() => reported.length > n || undefined, `config/reported after desired case ${dc.id}`);
      if (dc.retain) await cloud.publish(`${BASE}/config/desired`, '', { qos: 1, retain: true });
      const last = reported.at(-1)!.doc as { lastDesired?: { result: string; requestId?: string; changed?: string[]; error?: { code: string } } };
      const ld = last.lastDesired;
      if (!ld) {
        problems.push(`desired ${dc.id} (${dc.cls}): reported without lastDesired`);
        continue;
      }
      if (dc.requestId && ld.requestId !== dc.requestId) problems.push(`desired ${dc.id} (${dc.cls}): lastDesired.requestId ${ld.requestId}, expected ${dc.requestId}`);
      if (ld.result === 'accepted' && (ld.changed?.length ?? 0) > 0) problems.push(`desired ${dc.id} (${dc.cls}): changed ${ld.changed!.join(', ')}: ${dc.payload.toString('utf8').slice(0, 300)}`);
      if (ld.result === 'rejected' && !ERROR_CODES.has(ld.error?.code ?? '')) problems.push(`desired ${dc.id} (${dc.cls}): imprecise error ${JSON.stringify(ld.error).slice(0, 300)}`);
      if (dc.cls === 'forbidden-probe' && ld.result === 'accepted' && (ld.changed?.length ?? 0) > 0) problems.push(`desired ${dc.id}: local-only setting changed from the cloud`);
      for (const s of SECRET_TEXTS) if (reported.at(-1)!.text.includes(s)) problems.push(`desired ${dc.id}: a secret in config/reported`);
      count(desiredOutcomes, ld.result === 'accepted' ? 'accepted-noop' : ld.error!.code);
    }
    rss.push(rssKiB(pid) ?? -1);
    phaseMs.desired = Date.now() - t0;
    t0 = Date.now();

    // --- 3. the control socket (local: every command, local-only ones included) -------------
    const socketTargets = local.result.filter((c) => !STREAMS.has(c.name));
    const socketCases: { id: number; name: string; cls: string; line: string; mayRun: boolean }[] = [];
    const perLocal = Math.ceil(N_SOCKET / socketTargets.length);
    socketTargets.forEach((t, ti) => {
      for (const g of casesFor(t, perLocal, SEED + 30_000 + ti)) {
        const argsText = g.payload.toString('utf8').replace(/\n/g, ' ');
        // Args that are not an object are a malformed request; the raw ones go in as the whole line.
        const line = g.cls === 'raw-bad' ? argsText : `{"id":${socketCases.length},"cmd":${JSON.stringify(t.name)},"args":${argsText}}`;
        if (!line.trim()) continue; // an empty line is no request
        socketCases.push({ id: socketCases.length, name: t.name, cls: g.cls, line, mayRun: g.mayRun });
      }
    });
    socketCases.push(
      { id: socketCases.length, name: '-', cls: 'request-shape', line: '{"id":{"a":1},"cmd":"status"}', mayRun: false },
      { id: socketCases.length + 1, name: '-', cls: 'request-shape', line: '{"cmd":""}', mayRun: false },
      { id: socketCases.length + 2, name: '-', cls: 'request-shape', line: `{"id":1,"cmd":"${'c'.repeat(65)}"}`, mayRun: false },
      { id: socketCases.length + 3, name: '-', cls: 'request-shape', line: '{"id":1,"cmd":"status","args":[]}', mayRun: false },
      { id: socketCases.length + 4, name: '-', cls: 'request-shape', line: '{"id":1,"cmd":"status","extra":true}', mayRun: false },
      { id: socketCases.length + 5, name: '-', cls: 'huge', line: `{"id":1,"cmd":"status","args":{"x":"${'a'.repeat(70_000)}"}}`, mayRun: false },
    );
    const sock = await SocketLines.open(daemon.socket);
    for (const sc of socketCases) {
      const got = await sock.request(sc.line);
      let body: Reply['body'];
      try {
        body = JSON.parse(got) as Reply['body'];
      } catch {
        problems.push(`socket ${sc.id} (${sc.name}/${sc.cls}): reply is not JSON: ${got.slice(0, 200)}`);
        continue;
      }
      checkReply({ topic: 'socket', body, text: got }, problems, sc);
      if (body.ok) {
        if (!sc.mayRun) problems.push(`socket ${sc.id} (${sc.name}/${sc.cls}): accepted although invalid: ${sc.line.slice(0, 300)}`);
        else count(validRan, `socket:${sc.name}`);
      } else count(codes, `socket:${body.error!.code}`);
      if (sc.id % 200 === 0) rss.push(rssKiB(pid) ?? -1);
    }
    // Known and reported: the request envelope drops an own `__proto__` key of `args` (a zod
    // record), so the command never sees it as an unknown key. Measured, not asserted.
    const proto = JSON.parse(await sock.request('{"id":"proto","cmd":"cloud.schema","args":{"__proto__":{"x":1}}}')) as Reply['body'];
    // Known and reported: after answering a line that crossed the limit before its newline, the
    // server hangs up but still runs what follows on that connection (its replies are lost).
    // Measured, not asserted: does a request sent right behind an oversize one still run?
    const afterHangup = await SocketLines.exchange(daemon.socket, `{"id":1,"cmd":"status","args":{"x":"${'a'.repeat(150_000)}"}}\n{"id":"after","cmd":"zz.after.oversize"}\n`);
    // A later request's log line is a barrier: the earlier one, if it ran, logged before it.
    await sock.request('{"id":"b","cmd":"zz.barrier.after"}');
    await waitUntil(() => daemon.output().includes('zz.barrier.after') || undefined, 'the barrier request in the daemon log');
    const ranAfterHangup = daemon.output().includes('zz.after.oversize');
    // Exactly one line per request: a last request's reply is the very next line.
    const extra = await sock.request('{"id":"barrier","cmd":"status"}');
    expect(JSON.parse(extra)).toMatchObject({ id: 'barrier', ok: true });
    sock.close();
    phaseMs.socket = Date.now() - t0;

    // --- Exactly one reply per MQTT request: a barrier request, then count per correlation. --
    const barrier = await requestCmd({ id: 999_999, name: 'status', cls: 'barrier', payload: Buffer.from('{}'), mayRun: true, responseTopic: REPLY_TOPIC });
    expect(barrier.body.ok).toBe(true);
    let missing = 0;
    let duplicated = 0;
    for (const c of [...cmdCases, ...burst]) {
      const n = byCorr.get(corrOf(c).toString('hex'))?.length ?? 0;
      if (n === 0) missing++;
      if (n > 1) {
        duplicated++;
        problems.push(`case ${c.id} (${c.name}/${c.cls}): ${n} replies`);
      }
    }
    const reportedAfter = reportedCore(reported.at(-1)!.doc);
    const after = snapshot();
    rss.push(rssKiB(pid) ?? -1);
    const status = await daemon.call('status');

    const sent = cmdCases.length + burst.length + desired.length + socketCases.length;
    figures('fuzz', {
      seed: SEED,
      payloads: { mqttCommands: cmdCases.length, burst: burst.length, desired: desired.length, socket: socketCases.length, total: sent },
      commandsFuzzed: targets.length,
      socketCommandsFuzzed: socketTargets.length,
      seconds: Math.round((Date.now() - started) / 1000),
      phaseSeconds: Object.fromEntries(Object.entries(phaseMs).map(([k, v]) => [k, Math.round(v / 100) / 10])),
      mqttSecondsByClass: Object.fromEntries([...classMs].map(([k, v]) => [k, Math.round(v / 100) / 10])),
      errorCodes: Object.fromEntries([...codes].sort()),
      desiredOutcomes: Object.fromEntries(desiredOutcomes),
      validReadOnlyRuns: Object.fromEntries([...validRan].sort()),
      socketOversize: { replies: afterHangup.length, laterRequestRanUnanswered: ranAfterHangup },
      socketArgsProtoKey: proto.ok ? 'accepted (key dropped)' : proto.error?.code,
      repliesMissing: missing,
      repliesDuplicated: duplicated,
      rssKiB: { atStart: rss[0], afterWarmUp: rss[1], max: Math.max(...rss), last: rss.at(-1), samples: rss },
      problems: problems.length,
    });
    if (problems.length) console.log(problems.slice(0, 40).join('\n'));

    expect(problems).toEqual([]);
    expect(missing).toBe(0);
    expect(after).toEqual(before);
    expect(reportedAfter).toBe(reportedBefore);
    expect(status.ok).toBe(true);
    expect(daemon.proc.exitCode).toBeNull();
    expect(daemon.proc.pid).toBe(pid);
    expect((status as { result: { lifecycle: string } }).result.lifecycle).toBe('running');
    // Bounded: the first hundred requests warm the daemon up (schemas built, buffers grown: about
    // +100 MiB, measured); after that thousands of bad requests may not grow it by 96 MiB more.
    const warm = rss[1]!;
    expect(Math.max(...rss.slice(1)) - warm).toBeLessThan(96 * 1024);
    // The brief's floor (a smaller CAMD_FUZZ_SCALE is for trying things out only).
    if (SCALE >= 1) expect(sent).toBeGreaterThanOrEqual(1000);
  });
});

function isReplyTopic(t: string): boolean {
  const prefix = `${BASE}/reply/`;
  return t.startsWith(prefix) && t.length > prefix.length && !/[+#\u0000]/.test(t) && Buffer.byteLength(t) <= 1024;
}

const corrOf = (c: { id: number }): Buffer => Buffer.from(`fz-${c.id}`);

async function publishCmd(c: Case): Promise<void> {
  await cloud.publish(`${BASE}/cmd/${c.name}`, c.payload, {
    qos: 1,
    retain: !!c.retain,
    properties: { correlationData: corrOf(c), ...(c.responseTopic !== undefined && { responseTopic: c.responseTopic }) },
  });
}

async function waitReply(c: Case): Promise<Reply> {
  const key = corrOf(c).toString('hex');
  return waitUntil(() => byCorr.get(key)?.[0], `the reply to case ${c.id} (${c.name}/${c.cls})`, 10_000, 2);
}

async function requestCmd(c: Case): Promise<Reply> {
  await publishCmd(c);
  const r = await waitReply(c);
  // Delete a retained request again (an empty retained message is not a command: no reply).
  if (c.retain) await cloud.publish(`${BASE}/cmd/${c.name}`, '', { qos: 1, retain: true });
  return r;
}

/** One connection to the control socket, one raw line out, the next line in. */
class SocketLines {
  private sock: Socket | undefined;
  private buf = '';
  private readonly lines: string[] = [];

  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<SocketLines> {
    const s = new SocketLines(path);
    await s.connect();
    return s;
  }

  private async connect(): Promise<void> {
    const sock = connect(this.path);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    sock.on('error', () => undefined);
    this.sock = sock;
  }

  async request(line: string): Promise<string> {
    // The server answers an oversize line too_large and may hang up (when the limit is crossed
    // before the newline arrives): such a request goes over a connection of its own.
    if (Buffer.byteLength(line) > 64 * 1024) {
      const once = await SocketLines.open(this.path);
      try {
        return await once.send(line);
      } finally {
        once.close();
      }
    }
    return this.send(line);
  }

  private async send(line: string): Promise<string> {
    if (!this.sock || this.sock.destroyed || this.sock.readyState !== 'open') {
      this.buf = '';
      await this.connect();
    }
    this.sock!.write(`${line}\n`);
    return waitUntil(() => this.lines.shift(), `a reply on the control socket to ${line.slice(0, 160)}…`, 10_000, 2);
  }

  /** Raw bytes out, then every line until the server closes the connection. */
  static async exchange(path: string, text: string): Promise<string[]> {
    const s = await SocketLines.open(path);
    const closed = new Promise<void>((r) => s.sock!.once('close', () => r()));
    s.sock!.write(text);
    await closed;
    return s.lines;
  }

  close(): void {
    this.sock?.end();
  }
}
