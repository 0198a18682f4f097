import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmService } from '../../src/alarm/service.js';
import { captureServices } from '../../src/services.js';
import { cloudService } from '../../src/cloud/service.js';
import { controlServer } from '../../src/control/server.js';
import { indicatorService } from '../../src/indicator/service.js';
import { networkService } from '../../src/network/service.js';
import { ptzService } from '../../src/ptz/service.js';
import { resetService } from '../../src/reset/service.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { removeTestDirs, smallBoard, testDir } from '../unit/capture/media-fixture.js';
import { freePort, Receiver } from '../unit/capture/receiver-fixture.js';
import { CloudClient, until } from './cloud-helpers.js';
import { childListeners } from './live-fixtures.js';

/**
 * The trust-boundary attack list (README "Who may do what"), replayed from the cloud side over a
 * real Mosquitto against the whole daemon (every service but the detector) on the sim board, as a
 * shared account or a compromised backend would: each attack must be refused (or, for
 * deterrents, bounded) and change nothing — config, secrets, the cloud link, listening sockets,
 * the LED of a live view. Prints `attacks: tried N, refused N, changed N`.
 */

const SERIAL_RE = /^[A-Z0-9]+$/;
const OWNER_WIFI = { ssid: 'OwnerNet', psk: 'owner-pass-1' };
const SECRETS_IN_URLS = ['alice', 'S3cretPW', 'STREAMKEY'];

let broker: Broker;
let booted: BootedSim;
let cloud: CloudClient;
let base: string;
let dir: string;
const events: CameraEvent[] = [];
const receivers: Receiver[] = [];

const local = (cmd: string, args: Record<string, unknown> = {}) => booted.sup.commands.execute(cmd, args, { source: 'local' });

beforeAll(async () => {
  broker = await startMosquitto();
  // The owner's production stance, set locally: no plaintext or local-network media targets.
  dir = testDir({ cloud: { url: broker.url, allowPlaintext: true }, live: { allowPlaintext: false, allowLocalTargets: false } });
  writeFileSync(
    join(dir, 'data', 'secrets.json'),
    JSON.stringify({ wifi: OWNER_WIFI, binding: { token: 'owner-binding-token', boundAt: 1_700_000_000_000 } }),
    { mode: 0o600 },
  );
  booted = await bootSim({
    dir,
    board: smallBoard(dir),
    services: [controlServer, coreCommands, cloudService, indicatorService, resetService, networkService, alarmService, ptzService, ...captureServices],
  });
  booted.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  await waitFor(() => !!booted.sup.state.get().cloud?.connected, 30_000);
  await waitFor(() => booted.sup.state.get().capture?.wide?.status === 'running' && booted.sup.state.get().capture?.ptz?.status === 'running', 60_000);
  const id = (await local('identity')) as { ok: true; result: { baseTopic: string; serial: string } };
  expect(id.result.serial).toMatch(SERIAL_RE);
  base = id.result.baseTopic;
  cloud = await CloudClient.connect(broker.url);
  await cloud.subscribe(`${base}/#`);
}, 120_000);

afterAll(async () => {
  for (const r of receivers.splice(0)) await r.kill();
  await cloud?.close();
  await booted?.sup.shutdown('test done');
  await broker?.dispose();
  removeTestDirs();
}, 60_000);

interface Snapshot {
  config: string;
  secrets: string;
  cloudUrl: string;
  wifiSaved: string;
  listeners: string[];
  lastDesired: string;
}

async function snapshot(): Promise<Snapshot> {
  const cfg = (await local('config.get')) as { ok: true; result: unknown };
  return {
    config: JSON.stringify(cfg.result),
    secrets: createHash('sha256').update(readFileSync(join(dir, 'data', 'secrets.json'))).digest('hex'),
    cloudUrl: booted.sup.config.get().cloud.url,
    wifiSaved: JSON.stringify(booted.sup.secrets.get().wifi ?? null),
    listeners: childListeners(),
    lastDesired: JSON.stringify(cloud.last<{ lastDesired: unknown }>(`${base}/config/reported`)?.lastDesired ?? null),
  };
}

const tally = { tried: 0, refused: 0, changed: 0 };
const failures: string[] = [];

/** One attack: what to send, and whether its answer counts as a refusal. */
async function attack(name: string, run: () => Promise<boolean>, opts: { desired?: boolean } = {}): Promise<void> {
  const before = await snapshot();
  tally.tried++;
  let refused = false;
  try {
    refused = await run();
  } catch (err) {
    failures.push(`${name}: threw ${String(err)}`);
  }
  // Give anything the attack might have started a moment to show (a listener opening, a write).
  await new Promise((r) => setTimeout(r, 300));
  const after = await snapshot();
  const diff = (Object.keys(before) as (keyof Snapshot)[]).filter((k) => k !== 'lastDesired' || !opts.desired).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  if (refused) tally.refused++;
  else failures.push(`${name}: not refused`);
  if (diff.length) {
    tally.changed++;
    failures.push(`${name}: changed ${diff.join(', ')} (${diff.map((k) => `${JSON.stringify(before[k])} → ${JSON.stringify(after[k])}`).join('; ')})`);
  }
}

type Reply = { ok: boolean; error?: { code: string; message: string } };
const refusedWith = (codes: string[]) => (r: Record<string, unknown>): boolean => {
  const reply = r as unknown as Reply;
  return reply.ok === false && codes.includes(reply.error!.code);
};
const cmd = async (name: string, args: Record<string, unknown>, codes = ['forbidden']): Promise<boolean> => refusedWith(codes)(await cloud.request(base, name, args));

/** A desired document: refused when config/reported says so for its request id. */
async function desired(doc: Record<string, unknown>, codes = ['forbidden']): Promise<boolean> {
  const requestId = `d-${Math.random().toString(36).slice(2)}`;
  await cloud.publish(`${base}/config/desired`, JSON.stringify({ ...doc, $requestId: requestId }));
  const rep = await until(
    () => cloud.json<{ lastDesired: { requestId?: string; result: string; error?: { code: string } } | null }>(`${base}/config/reported`).find((d) => d.lastDesired?.requestId === requestId),
    `config/reported for ${requestId}`,
    30_000,
  );
  return rep.lastDesired!.result === 'rejected' && codes.includes(rep.lastDesired!.error!.code);
}

/** Sends a command with a response topic of the attacker's choosing; true when the device kept to its reply prefix. */
async function responseTopicAttack(target: string): Promise<boolean> {
  const mark = cloud.messages.length;
  const corr = Buffer.from(`rt-${target}`);
  await cloud.publish(`${base}/cmd/led.get`, '{}', { properties: { responseTopic: `${base}/${target}`, correlationData: corr } });
  const fallback = `${base}/cmd/led.get/reply`;
  await until(() => cloud.messages.slice(mark).find((m) => m.topic === fallback && m.correlationData?.equals(corr)), `fallback reply for ${target}`, 30_000);
  await new Promise((r) => setTimeout(r, 500));
  const later = cloud.messages.slice(mark);
  // Nothing on the attacker's topic, and exactly one reply (no re-execution of a reply as a command).
  return later.filter((m) => m.topic === `${base}/${target}` && m.text.includes('"ok"')).length === 0 && later.filter((m) => m.topic.endsWith('/reply')).length === 1;
}

/** Samples the physical LED (sim pins) for a while: true when it stayed solid blue throughout. */
async function ledStaysBlue(ms: number): Promise<boolean> {
  const led = booted.sup.hardware.parts.statusLed!;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (led.get() !== 'blue') return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

describe('trust boundary: the attack list, from the cloud, against the whole daemon', () => {
  it('refuses every attack and changes nothing', async () => {
    // Widening where the camera connects or what it accepts.
    await attack('live.start srt listener on all interfaces', () => cmd('live.start', { lenses: ['ptz'], url: 'srt://0.0.0.0:19364?mode=listener' }));
    // Only loopback targets here: were the policy ever broken, nothing would leave this machine.
    await attack('live.start srt rendezvous', () => cmd('live.start', { lenses: ['ptz'], url: 'srt://127.0.0.1:19364?mode=rendezvous' }));
    // ffmpeg reads a #fragment as part of the query: a URL parser would hide this listener.
    await attack('live.start srt listener smuggled in the fragment', () => cmd('live.start', { lenses: ['ptz'], url: 'srt://127.0.0.1:19366?latency=1#&mode=listener' }));
    await attack('talk.start srt listener', () => cmd('talk.start', { url: 'srt://0.0.0.0:19365?mode=listener' }));
    await attack('talk.start to loopback (the broker port)', () => cmd('talk.start', { url: 'http://127.0.0.1:1883/' }));
    await attack('talk.start to loopback by name', () => cmd('talk.start', { url: 'http://localhost:1883/' }));
    await attack('live.start to IPv6 loopback', () => cmd('live.start', { lenses: ['wide'], url: 'rtmps://[::1]:4443/app/key' }));
    await attack('live.start to IPv4-mapped loopback', () => cmd('live.start', { lenses: ['wide'], url: 'rtmps://[::ffff:127.0.0.1]:4443/app/key' }));
    await attack('live.start plaintext rtmp to loopback', () => cmd('live.start', { lenses: ['wide'], url: 'rtmp://127.0.0.2/app/key' }));
    await attack('live.start tcp listener scheme', () => cmd('live.start', { lenses: ['wide'], url: 'tcp://0.0.0.0:9000?listen=1' }, ['forbidden', 'invalid_args']));
    await attack('network.provision over a bound camera', () => cmd('network.provision', { ssid: 'EvilNet', psk: 'evil-pass-1', bindingToken: 'attacker-binding' }));
    await attack('config.set moves the cloud link to a plaintext broker', () => cmd('config.set', { patch: { cloud: { url: 'mqtt://203.0.113.9:1883', allowPlaintext: true } } }));
    await attack('config/desired moves the cloud link', () => desired({ cloud: { url: 'mqtt://203.0.113.9:1883', allowPlaintext: true } }), { desired: true });
    await attack('config.set allows local media targets', () => cmd('config.set', { patch: { live: { allowLocalTargets: true } } }));
    await attack('config/desired allows plaintext media', () => desired({ live: { allowPlaintext: true } }), { desired: true });
    await attack('config/desired resets the cloud group', () => desired({ cloud: null, audio: { volume: 11 } }), { desired: true });
    await attack('config.set nested 5 000 deep', async () => {
      // Built as text: JSON.stringify itself would run out of stack on the way.
      const payload = `{"patch":{"device":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}}`;
      return refusedWith(['invalid_args', 'malformed'])(await cloud.request(base, 'config.set', payload));
    });
    await attack('factory-reset from the cloud', () => cmd('factory-reset', {}));
    await attack('identity (verification code) from the cloud', () => cmd('identity', {}, ['unknown_command']));
    await attack('sim.press (button) from the cloud', () => cmd('sim.press', { button: 'reset', ms: 6000 }, ['unknown_command']));
    // Replies where replies do not belong.
    for (const t of ['cmd/led.get', 'config/desired', 'events', 'state', 'availability', 'config/reported']) {
      await attack(`response topic ${t}`, () => responseTopicAttack(t));
    }

    console.log(`attacks (boundary): tried ${tally.tried}, refused ${tally.refused}, changed ${tally.changed}`);
    expect(failures).toEqual([]);
    const forbidden = events.filter((e) => e.kind === 'security' && e.type === 'request.forbidden');
    expect(forbidden.length).toBeGreaterThanOrEqual(10);
    expect(forbidden.every((e) => typeof e.data?.rule === 'string')).toBe(true);
  }, 300_000);

  it('a live view keeps the LED solid blue against led.test and indicator.enabled, and leaks no URL secret', async () => {
    // The owner, on the shell, allows pushing to a receiver on the local network.
    expect(await local('config.set', { patch: { live: { allowPlaintext: true, allowLocalTargets: true } } })).toMatchObject({ ok: true });
    const port = await freePort('tcp');
    const rx = new Receiver(`rtmp://127.0.0.1:${port}/live/STREAMKEY`, join(dir, 'rx.ts'));
    receivers.push(rx);
    await new Promise((r) => setTimeout(r, 500));
    const start = (await cloud.request(base, 'live.start', { lenses: ['wide'], url: `rtmp://alice:S3cretPW@127.0.0.1:${port}/live/STREAMKEY`, audio: false })) as Reply & { result?: { id: string } };
    expect(start, JSON.stringify(start)).toMatchObject({ ok: true });
    await waitFor(() => booted.sup.state.get().liveViewers > 0, 30_000);
    await waitFor(() => booted.sup.hardware.parts.statusLed!.get() === 'blue', 10_000);

    tally.tried = tally.refused = tally.changed = 0;
    failures.length = 0;
    const blueAfter = async (name: string, run: () => Promise<unknown>): Promise<void> => {
      tally.tried++;
      await run();
      if (await ledStaysBlue(1500)) tally.refused++;
      else {
        tally.changed++;
        failures.push(`${name}: the LED left solid blue during a live view`);
      }
    };
    await blueAfter('led.test off (cloud)', () => cloud.request(base, 'led.test', { color: 'off', seconds: 300 }));
    await blueAfter('led.test off again (cloud)', () => cloud.request(base, 'led.test', { color: 'off', seconds: 300 }));
    await blueAfter('led.test red (local)', () => local('led.test', { color: 'red', mode: 'solid', seconds: 300 }));
    await blueAfter('config/desired indicator.enabled=false', async () => {
      await cloud.publish(`${base}/config/desired`, JSON.stringify({ indicator: { enabled: false } }));
      await waitFor(() => booted.sup.config.get().indicator.enabled === false, 30_000);
    });
    await blueAfter('config.set indicator.enabled=false (local)', () => local('config.set', { patch: { indicator: { enabled: false } } }));
    console.log(`attacks (live LED): tried ${tally.tried}, refused ${tally.refused}, changed ${tally.changed}`);
    expect(failures).toEqual([]);

    // The push with credentials in its URL: nothing of them anywhere the device writes.
    const stop = await cloud.request(base, 'live.stop', {});
    expect(stop).toMatchObject({ ok: true });
    await waitFor(() => booted.sup.state.get().liveViewers === 0, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const places: Record<string, string> = {
      logs: JSON.stringify(booted.sup.logging.ring.recent()),
      mqtt: cloud.messages.filter((m) => !m.topic.includes('/cmd/live.start') || m.topic.endsWith('/reply')).map((m) => m.text).join('\n'),
      replies: JSON.stringify([start, stop]),
      events: JSON.stringify(events),
      state: JSON.stringify(booted.sup.state.get()),
    };
    for (const [where, text] of Object.entries(places)) {
      for (const s of SECRETS_IN_URLS) expect(text.includes(s), `${s} in ${where}`).toBe(false);
    }
    expect(places.logs).toContain(`rtmp://***@127.0.0.1:${port}/live/***`);
    expect(await local('config.set', { patch: { indicator: { enabled: true } } })).toMatchObject({ ok: true });
  }, 180_000);

  it('deterrents switched by hand from the cloud turn themselves off: siren and strobes at alarm.timeoutSeconds, the spotlight at lights.spotlightMaxSeconds', async () => {
    expect(await local('config.set', { patch: { alarm: { timeoutSeconds: 5 }, lights: { spotlightMaxSeconds: 10 } } })).toMatchObject({ ok: true });
    const outputs = () => booted.sup.hardware.outputs();
    const on = (name: string) => {
      const v = outputs()[name];
      return typeof v === 'object' && v !== null ? !!(v as { on?: boolean }).on : !!v;
    };
    for (const output of ['siren', 'strobeRed', 'strobeBlue']) {
      expect(await cloud.request(base, 'output.set', { output, on: true })).toMatchObject({ ok: true });
      expect(on(output), output).toBe(true);
    }
    expect(await cloud.request(base, 'spotlight.set', { on: true })).toMatchObject({ ok: true });
    const t0 = Date.now();
    await waitFor(() => !on('siren') && !on('strobeRed') && !on('strobeBlue'), 60_000);
    const sirenOffMs = Date.now() - t0;
    expect(on('spotlight')).toBe(true);
    await waitFor(() => !on('spotlight'), 60_000);
    const spotOffMs = Date.now() - t0;
    console.log(`deterrents: siren/strobes off after ${sirenOffMs} ms (bound 5 s), spotlight off after ${spotOffMs} ms (bound 10 s)`);
    expect(sirenOffMs).toBeGreaterThanOrEqual(4_000);
    expect(spotOffMs).toBeGreaterThanOrEqual(9_000);
  }, 180_000);
});
