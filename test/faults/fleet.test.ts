import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clockTicks, procTicks } from '../../scripts/bench-util.js';
import { makeCerts, PRODUCTION_ACL, startMosquitto, type Broker, type TlsFiles } from '../harness/mosquitto.js';
import { pause, waitUntil } from '../harness/wait.js';
import { CloudClient, type Received } from '../integration/cloud-helpers.js';
import { RECONNECT } from '../../src/cloud/reconnect-delay.js';
import { figures } from './fault-kit.js';
import { buildDaemon, histogram, memAvailableKb, memoryKb, pidsMentioning, killStragglers, pool, releaseGuard, serialOf, startFleetDaemon, stopFleetDaemon, type FleetDaemon } from './fleet-harness.js';

/**
 * A fleet on one broker: CAMD_FLEET_SIZE (default 100) real daemons (compiled, capture and
 * detection disabled: the cloud link, network, health, LED, alarm and PTZ services run) against
 * one real Mosquitto with the production settings (mTLS, client certificate CN = serial, the
 * shipped per-device ACL rules), an independent MQTT subscriber (the cloud's certificate) counting bytes on
 * `camd/#` per serial.
 *
 *  1. memory per daemon (PSS: shared pages divided among their users) and what that means for
 *     how many fit;
 *  2. an idle window (CAMD_FLEET_IDLE_SECONDS, default 300 = one telemetry period): bytes/s per
 *     camera, broker and daemon CPU;
 *  3. the broker restarted: while it is down every daemon emits events (sim.emit-event over its
 *     control socket); the reconnects must spread over the 30 s window (histogram printed), and
 *     the subscriber must end up with every event of every daemon (0 lost).
 */
const N = Number(process.env.CAMD_FLEET_SIZE ?? 100);
const IDLE_SECONDS = Number(process.env.CAMD_FLEET_IDLE_SECONDS ?? 300);
const EVENTS_UP = 5;
const EVENTS_DOWN = 20;
const DISABLED = ['capture', 'detection'];

vi.setConfig({ testTimeout: 3_600_000, hookTimeout: 3_600_000 });

let root: string;
let tls: TlsFiles;
let broker: Broker;
let cloud: CloudClient;
const fleet: FleetDaemon[] = [];
let bootSeconds = NaN;
let bootCpuSeconds = NaN;
const serials = Array.from({ length: N }, (_, i) => serialOf(i + 1));

const fmt = (n: number, d = 1): string => n.toFixed(d);
/** A line of figures as it is measured: stdout, and `$CAMD_FIGURES_FILE` (a run cut short keeps what it had). */
const say = (text: string): void => {
  process.stdout.write(text);
  if (process.env.CAMD_FIGURES_FILE) appendFileSync(process.env.CAMD_FIGURES_FILE, text);
};
const bytesOf = (ms: readonly Received[]): number => ms.reduce((n, m) => n + Buffer.byteLength(m.topic) + Buffer.byteLength(m.text), 0);
const serialOfTopic = (topic: string): string => topic.split('/')[1] ?? '';
const brokerPid = (): number => {
  const pids = pidsMentioning(join(broker.dir, 'mosquitto.conf'));
  if (pids.length !== 1) throw new Error(`expected one mosquitto for ${broker.dir}, found ${pids.length}`);
  return pids[0]!;
};

/**
 * The range r (0…1) that the range of n uniform draws on [0, 1] falls below with probability p:
 * P(range < r) = n·r^(n−1) − (n−1)·r^n, solved by bisection.
 */
function minUniformRange(n: number, p: number): number {
  if (n < 2) return 0;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const r = (lo + hi) / 2;
    if (n * r ** (n - 1) - (n - 1) * r ** n < p) lo = r;
    else hi = r;
  }
  return lo;
}

/**
 * The device rules of the shipped ACL (its `pattern` lines), plus the device's `telemetry` topic
 * if the shipped file does not grant it yet (reported: the device publishes telemetry since this
 * change), plus the cloud backend's certificate reading and writing every device's subtree.
 */
function fleetAcl(dir: string): string {
  const patterns = readFileSync(PRODUCTION_ACL, 'utf8').split('\n').filter((l) => l.startsWith('pattern '));
  if (!patterns.includes('pattern write camd/%u/telemetry')) {
    process.stdout.write('NOTE: scripts/mosquitto/production.acl lacks `pattern write camd/%u/telemetry`; added for this run\n');
    patterns.push('pattern write camd/%u/telemetry');
  }
  const file = join(dir, 'fleet.acl');
  writeFileSync(file, `${patterns.join('\n')}\n\nuser camd-cloud\ntopic readwrite camd/#\n`);
  return file;
}

/**
 * The production broker's settings that matter here (scripts/mosquitto/production.conf: mTLS,
 * CN = username = client id, the ACL, packet size, in-flight and queue bounds, persistence) on
 * one loopback listener that devices and the backend share (production has a listener each).
 */
function fleetConf(port: number, dir: string, acl: string): string {
  return [
    'per_listener_settings false',
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `cafile ${tls.ca}`,
    `certfile ${tls.server.cert}`,
    `keyfile ${tls.server.key}`,
    'require_certificate true',
    'use_identity_as_username true',
    `acl_file ${acl}`,
    'max_packet_size 1048576',
    'max_inflight_messages 256',
    'max_queued_messages 10000',
    'max_connections -1',
    'persistence true',
    `persistence_location ${dir}/`,
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    '',
  ].join('\n');
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'camd-fleet-'));
  const [main] = await Promise.all([buildDaemon(), (async () => (tls = await makeCerts(root, [...serials, 'camd-cloud'])))()]);
  const acl = fleetAcl(root);
  broker = await startMosquitto({ tls: true, conf: (port, d) => fleetConf(port, d, acl) });
  cloud = await CloudClient.connect(broker.url, {
    ca: readFileSync(tls.ca),
    cert: readFileSync(tls.clients['camd-cloud']!.cert),
    key: readFileSync(tls.clients['camd-cloud']!.key),
    rejectUnauthorized: true,
    clientId: 'camd-cloud-fleet',
    // A persistent cloud-side session, as a real backend has: it must not miss events across the restart.
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  await cloud.subscribe('camd/#');
  const config = { cloud: { url: broker.url, allowPlaintext: false } };
  const t0 = Date.now();
  // One at a time: a boot costs a few CPU-seconds (module loading, schemas) and the machine is
  // shared; more in parallel would only make each slower. Each joins `fleet` as it comes up, so
  // a boot that fails half-way still has every started daemon stopped by afterAll.
  await pool(serials, 1, async (serial, i) => {
    fleet.push(
      await startFleetDaemon({
        main,
        root,
        index: i + 1,
        config,
        secrets: { mqtt: { caFile: tls.ca, certFile: tls.clients[serial]!.cert, keyFile: tls.clients[serial]!.key } },
        disable: DISABLED,
        bootTimeoutMs: 600_000,
      }),
    );
  });
  fleet.sort((a, b) => a.index - b.index);
  bootSeconds = (Date.now() - t0) / 1000;
  bootCpuSeconds = fleet.map((d) => (procTicks(d.proc.pid!) ?? 0) / clockTicks()).sort((a, b) => a - b)[Math.floor(N / 2)]!;
  figures('fleet-boot', { daemons: N, bootSeconds: +fmt(bootSeconds, 0), bootCpuSecondsPerDaemon: +fmt(bootCpuSeconds, 2) });
});

afterAll(async () => {
  await pool(fleet, 16, (d) => stopFleetDaemon(d));
  // Daemons whose boot had not finished (a failed or timed-out beforeAll).
  const killed = killStragglers();
  if (killed) process.stdout.write(`killed ${killed} daemons that never finished booting\n`);
  if (root) releaseGuard(root);
  await cloud?.close();
  await broker?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

const cloudHealth = async (d: FleetDaemon): Promise<{ connected: boolean; lastConnectedAt?: number; nextRetryAt?: number; outbox: { depth: number } }> => {
  const r = await d.call('status');
  if (!r.ok) throw new Error(`${d.serial}: status failed: ${r.error.message}`);
  return (r.result as { cloud: { connected: boolean; lastConnectedAt?: number; nextRetryAt?: number; outbox: { depth: number } } }).cloud;
};

/** Emits `count` events; resolves with the outbox depth once they are on flash (the command's reply). */
const emit = async (d: FleetDaemon, count: number, batch: string): Promise<number> => {
  const r = await d.call('sim.emit-event', { count, kind: 'system', type: 'test.fleet', data: { batch } });
  if (!r.ok) throw new Error(`${d.serial}: sim.emit-event failed: ${r.error.message}`);
  return (r.result as { depth: number }).depth;
};

/** Distinct ids of `test.fleet` events of one batch, per serial, as the subscriber received them. */
function eventsBySerial(batch: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of cloud.messages) {
    if (!m.topic.endsWith('/events')) continue;
    const e = JSON.parse(m.text) as { id: string; type: string; data?: { batch?: string } };
    if (e.type !== 'test.fleet' || e.data?.batch !== batch) continue;
    const serial = serialOfTopic(m.topic);
    if (!out.has(serial)) out.set(serial, new Set());
    out.get(serial)!.add(e.id);
  }
  return out;
}

describe(`a fleet of ${N} cameras on one broker`, () => {
  it('fits in memory, idles at a few bytes a second per camera, and survives a broker restart without losing an event', async () => {
    // Every daemon online and settled: its first connect burst is behind us.
    // Polled every 5 s: a status call to each of a hundred daemons is itself load.
    await waitUntil(async () => (await pool(fleet, 4, cloudHealth)).every((h) => h.connected), `all ${N} daemons connected`, 120_000, 5000);
    const alive = await pool(fleet, 16, (d) => d.call('status'));
    expect(alive.every((r) => r.ok)).toBe(true);

    // 1. Memory.
    const mem = fleet.map((d) => memoryKb(d.proc.pid!)!);
    const pss = mem.map((m) => m.pss).sort((a, b) => a - b);
    const pssMedian = pss[Math.floor(pss.length / 2)]!;
    const rssMedian = mem.map((m) => m.rss).sort((a, b) => a - b)[Math.floor(N / 2)]!;
    const available = memAvailableKb();
    const brokerMem = memoryKb(brokerPid())!;
    say(
      `memory per daemon: PSS median ${fmt(pssMedian / 1024)} MiB (min ${fmt(pss[0]! / 1024)}, max ${fmt(pss.at(-1)! / 1024)}), RSS median ${fmt(rssMedian / 1024)} MiB; ` +
        `fleet total PSS ${fmt(pss.reduce((a, b) => a + b, 0) / 1024 / 1024, 2)} GiB; broker RSS ${fmt(brokerMem.rss / 1024)} MiB; MemAvailable now ${fmt(available / 1024 / 1024, 2)} GiB ` +
        `→ room for ~${Math.floor(available / pssMedian)} more daemons by memory\n`,
    );

    // 2. Idle: a whole telemetry period, so every camera sends exactly its share.
    await pause(5000);
    const idleFrom = cloud.messages.length;
    const bPid = brokerPid();
    const b0 = procTicks(bPid)!;
    const d0 = fleet.map((d) => procTicks(d.proc.pid!) ?? 0);
    const idleStart = Date.now();
    await pause(IDLE_SECONDS * 1000);
    const idleS = (Date.now() - idleStart) / 1000;
    const idleMsgs = cloud.messages.slice(idleFrom);
    const brokerIdleCpu = ((procTicks(bPid)! - b0) / clockTicks() / idleS) * 100;
    const daemonIdleCpu = (fleet.reduce((n, d, i) => n + ((procTicks(d.proc.pid!) ?? 0) - d0[i]!), 0) / clockTicks() / idleS / N) * 100;
    const idleBytes = bytesOf(idleMsgs);
    const byTopic = new Map<string, { n: number; bytes: number }>();
    for (const m of idleMsgs) {
      const t = m.topic.split('/').slice(2).join('/');
      const e = byTopic.get(t) ?? { n: 0, bytes: 0 };
      e.n++;
      e.bytes += Buffer.byteLength(m.topic) + Buffer.byteLength(m.text);
      byTopic.set(t, e);
    }
    say(
      `idle ${fmt(idleS, 0)} s: ${idleMsgs.length} messages, ${fmt(idleBytes / 1024)} KiB → ${fmt(idleBytes / N / idleS, 2)} B/s per camera (${fmt((idleBytes / N / idleS) * 3.6, 1)} KB/hour); ` +
        `by topic ${JSON.stringify(Object.fromEntries(byTopic))}; broker CPU ${fmt(brokerIdleCpu, 2)} % of a core; daemon CPU ${fmt(daemonIdleCpu, 2)} % of a core each\n`,
    );
    // Idle is telemetry, at most one per camera per period (+1 for a timer straddling the window's edges).
    const telemetry = idleMsgs.filter((m) => m.topic.endsWith('/telemetry'));
    expect(telemetry.length).toBeLessThanOrEqual(N * (Math.floor(IDLE_SECONDS / 300) + 1));

    // 3. Events while connected, as a baseline.
    await pool(fleet, 16, (d) => emit(d, EVENTS_UP, 'up'));
    await waitUntil(() => [...eventsBySerial('up').values()].reduce((n, s) => n + s.size, 0) === N * EVENTS_UP, 'the baseline events', 60_000, 500);

    // 4. The broker goes down; every daemon records events meanwhile; the broker comes back.
    const downAt = Date.now();
    await broker.stop();
    await waitUntil(async () => (await pool(fleet, 16, cloudHealth)).every((h) => !h.connected), 'every daemon noticed', 60_000, 250);
    // The first attempt after a lost session, as each daemon drew it.
    // (A daemon that drew less than the time this takes has already retried once: its next attempt is
    // then a short backoff after that, within `readMs` of the drop.)
    const drawn = (await pool(fleet, 16, cloudHealth)).map((h) => (h.nextRetryAt ?? NaN) - downAt);
    const readMs = Date.now() - downAt;
    const depths = await pool(fleet, 16, (d) => emit(d, EVENTS_DOWN, 'down'));
    // On flash, waiting for the broker.
    expect(depths.filter((x) => x < EVENTS_DOWN)).toEqual([]);
    const upAt = Date.now();
    await broker.start();
    const b1Pid = brokerPid();
    const b1 = procTicks(b1Pid)!;
    const rxFrom = cloud.messages.length;
    await waitUntil(async () => (await pool(fleet, 16, cloudHealth)).every((h) => h.connected && (h.lastConnectedAt ?? 0) >= upAt), `all ${N} reconnected`, 120_000, 500);
    const reconnectedIn = (Date.now() - upAt) / 1000;
    await waitUntil(() => [...eventsBySerial('down').values()].reduce((n, s) => n + s.size, 0) >= N * EVENTS_DOWN, 'every event of the outage', 120_000, 500);
    const drainedS = (Date.now() - upAt) / 1000;
    const brokerStormCpu = ((procTicks(b1Pid)! - b1) / clockTicks() / drainedS) * 100;
    const health = await pool(fleet, 16, cloudHealth);
    const sinceDown = health.map((h) => h.lastConnectedAt! - downAt).sort((a, b) => a - b);
    const sinceUp = health.map((h) => h.lastConnectedAt! - upAt).sort((a, b) => a - b);
    const perSecond = new Map<number, number>();
    for (const t of sinceUp) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    const peak = Math.max(...perSecond.values());
    const burstBytes = bytesOf(cloud.messages.slice(rxFrom));
    const down = eventsBySerial('down');
    const up = eventsBySerial('up');
    say(
      `broker down ${fmt((upAt - downAt) / 1000)} s; first attempts drawn over ${fmt((Math.max(...drawn) - Math.min(...drawn)) / 1000)} s after the drop; ` +
        `all reconnected ${fmt(reconnectedIn)} s after the broker came back, all events in ${fmt(drainedS)} s; ` +
        `reconnects ${fmt(sinceDown[0]! / 1000)} … ${fmt(sinceDown.at(-1)! / 1000)} s after the drop, peak ${peak} in one second; ` +
        `broker CPU while they came back ${fmt(brokerStormCpu, 1)} % of a core; ${fmt(burstBytes / N / 1024, 1)} KiB per camera to reconnect and drain\n` +
        `reconnect time after the drop (2 s bins):\n${histogram(sinceDown, 2000)}\n`,
    );

    figures('fleet', {
      daemons: N,
      bootSeconds: +fmt(bootSeconds, 0),
      bootCpuSecondsPerDaemon: +fmt(bootCpuSeconds, 2),
      pssMiBMedian: +fmt(pssMedian / 1024),
      rssMiBMedian: +fmt(rssMedian / 1024),
      fitByMemory: N + Math.floor(available / pssMedian),
      idleSeconds: +fmt(idleS, 0),
      idleBytesPerSecondPerCamera: +fmt(idleBytes / N / idleS, 2),
      brokerIdleCpuPct: +fmt(brokerIdleCpu, 2),
      daemonIdleCpuPct: +fmt(daemonIdleCpu, 2),
      brokerDownSeconds: +fmt((upAt - downAt) / 1000),
      reconnectFirstS: +fmt(sinceDown[0]! / 1000),
      reconnectLastS: +fmt(sinceDown.at(-1)! / 1000),
      reconnectPeakPerSecond: peak,
      brokerReconnectCpuPct: +fmt(brokerStormCpu),
      reconnectKiBPerCamera: +fmt(burstBytes / N / 1024),
      eventsLost: N * (EVENTS_UP + EVENTS_DOWN) - [...up.values(), ...down.values()].reduce((n, x) => n + x.size, 0),
    });
    // 0 events lost: every daemon's every event, each id at least once.
    const missing = serials.filter((s) => (down.get(s)?.size ?? 0) !== EVENTS_DOWN || (up.get(s)?.size ?? 0) !== EVENTS_UP);
    expect(missing).toEqual([]);
    // Spread by jitter: the drawn first attempts cover the 30 s window — at least the range that N
    // uniform draws exceed but for a one-in-a-million chance (100 daemons: 25.6 s) — and the
    // reconnects the same less the downtime (those who drew less retried once it was back); no
    // second after the broker's return takes more than a fraction of the fleet (the old 1 s
    // backoff: nearly all of it within two seconds).
    const spread = minUniformRange(N, 1e-6) * RECONNECT.spreadMs;
    expect(Math.max(...drawn) - Math.min(...drawn)).toBeGreaterThanOrEqual(spread - readMs - 2000);
    expect(sinceDown.at(-1)! - sinceDown[0]!).toBeGreaterThanOrEqual(spread - (upAt - downAt) - 2000);
    expect(peak).toBeLessThanOrEqual(Math.max(5, Math.ceil(N * 0.2)));
    // Nobody crashed.
    expect(fleet.filter((d) => d.proc.exitCode !== null || d.proc.signalCode !== null).map((d) => d.serial)).toEqual([]);
  });
});
