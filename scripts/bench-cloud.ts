/**
 * Cloud link benchmarks against a real local mosquitto (test/harness/mosquitto.ts), the cloud
 * service alone in a supervisor on the sim board, real time and real fsync:
 *  - events/s through the outbox to PUBACK while online;
 *  - detection-to-PUBACK latency p50/p99 for single events;
 *  - 100 000 events queued while the broker is down, then delivered: lost count, drain time, RSS;
 *  - state publishes/s under a burst of 10 000 state changes (coalescing).
 * Run alone: node --import tsx -e "import('./scripts/bench-cloud.ts').then(async m => console.log(await m.benchCloud()))"
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { loadBoard } from '../board/schema.js';
import { cloudService } from '../src/cloud/service.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { startMosquitto } from '../test/harness/mosquitto.js';
import { quantile, round } from './bench-util.js';

const REPO = resolve(import.meta.dirname, '..');
const OFFLINE_EVENTS = 100_000;
const ONLINE_EVENTS = 20_000;
const LATENCY_SAMPLES = 500;
const STATE_CHANGES = 10_000;

const pct = (xs: number[], p: number): number => quantile(xs, p / 100);

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}


export async function benchCloud(): Promise<Record<string, number>> {
  // Receive Maximum as in scripts/mosquitto/production.conf (mosquitto's default is 20).
  const broker = await startMosquitto({
    conf: (port, d) => `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 256\npersistence true\npersistence_location ${d}/\n${process.getuid?.() === 0 ? 'user root\n' : ''}`,
  });
  const dir = mkdtempSync(join(tmpdir(), 'camd-bench-cloud-'));
  mkdirSync(join(dir, 'd'), { recursive: true });
  // 100 000 events of ~250 bytes need more than the 16 MiB default bound; lost must be 0.
  writeFileSync(join(dir, 'd', 'config.json'), JSON.stringify({ cloud: { url: broker.url, allowPlaintext: true, outboxMaxBytes: 64 * 1024 * 1024 } }));
  const board = loadBoard(join(REPO, 'board/sim.json'));
  const sup = new Supervisor({ board, boardFile: 'board/sim.json', services: [cloudService], logDestination: null, logLevel: 'warn', dataDir: join(dir, 'd'), runDir: join(dir, 'r'), cardMount: join(dir, 'c') });
  const base = `camd/${(board.identity as { serial: string }).serial}`;
  const cloud = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-cloud', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100 });
  const received = new Set<string>();
  let statePublishes = 0;
  cloud.on('message', (topic, payload) => {
    if (topic.endsWith('/events')) received.add((JSON.parse(payload.toString()) as { id: string }).id);
    else if (topic.endsWith('/state')) statePublishes++;
  });
  await cloud.subscribeAsync({ [`${base}/events`]: { qos: 1 }, [`${base}/state`]: { qos: 0 } });

  const owner = { name: 'bench' };
  let delivered = 0;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const out: Record<string, number> = {};
  try {
    await sup.start();
    sup.bus.on(owner, 'cloud.event.delivered', ({ id }) => {
      delivered++;
      const t = sentAt.get(id);
      if (t !== undefined) latencies.push(performance.now() - t);
    });
    const connected = (): boolean => sup.state.get().cloud?.connected === true;
    await until(connected, 'connected', 10_000);
    const emit = async (count: number): Promise<void> => {
      const r = await sup.commands.execute('sim.emit-event', { count, kind: 'detection', type: 'human.start', lens: 'wide', data: { score: 0.87, box: [0.1, 0.2, 0.3, 0.4] } }, { source: 'local' });
      if (!r.ok) throw new Error(`emit failed: ${r.error.message}`);
    };

    // 1. Throughput while online (producer and publisher at once).
    let t0 = performance.now();
    for (let i = 0; i < ONLINE_EVENTS; i += 1000) await emit(1000);
    await until(() => delivered >= ONLINE_EVENTS, 'online events acked', 120_000);
    out['online events/s (emit → PUBACK)'] = Math.round(ONLINE_EVENTS / ((performance.now() - t0) / 1000));

    // 2. Latency of single events: bus emit → PUBACK.
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const id = `lat-${i}-${Date.now()}`;
      sentAt.set(id, performance.now());
      sup.bus.emit('camera.event', { id, ts: Date.now(), kind: 'detection', type: 'human.start', lens: 'wide', data: { score: 0.9 } });
      await new Promise((r) => setTimeout(r, 4));
    }
    await until(() => latencies.length >= LATENCY_SAMPLES, 'latency samples', 30_000);
    out['detection→PUBACK latency p50 ms'] = round(pct(latencies, 50), 2);
    out['detection→PUBACK latency p99 ms'] = round(pct(latencies, 99), 2);

    // 3. 100 000 events while the broker is down, then delivered.
    await until(() => received.size >= ONLINE_EVENTS + LATENCY_SAMPLES, 'cloud caught up', 30_000);
    await broker.stop();
    await until(() => !connected(), 'disconnected', 10_000);
    const before = delivered;
    const receivedBefore = received.size;
    t0 = performance.now();
    for (let i = 0; i < OFFLINE_EVENTS; i += 5000) await emit(5000);
    out['offline: 100k queued to flash, s'] = round((performance.now() - t0) / 1000, 2);
    out['offline: outbox MiB for 100k'] = round((sup.state.get().cloud?.outbox.bytes ?? NaN) / 1024 / 1024, 1);
    await broker.start();
    await until(connected, 'reconnected', 120_000);
    t0 = performance.now();
    let rssPeak = 0;
    let heapPeak = 0;
    const rssTimer = setInterval(() => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed);
    }, 50);
    await until(() => delivered - before >= OFFLINE_EVENTS, 'offline events acked', 300_000);
    out['offline: drain time after reconnect, s'] = round((performance.now() - t0) / 1000, 2);
    out['offline: drain events/s'] = Math.round(OFFLINE_EVENTS / ((performance.now() - t0) / 1000));
    clearInterval(rssTimer);
    // One process holds the daemon's cloud link and the bench's cloud-side subscriber.
    out['offline: process RSS peak during drain, MiB'] = round(rssPeak / 1024 / 1024, 0);
    out['offline: JS heap peak during drain, MiB'] = round(heapPeak / 1024 / 1024, 0);
    await until(() => received.size - receivedBefore >= OFFLINE_EVENTS, 'cloud received all', 30_000).catch(() => undefined);
    out['offline: lost of 100k (goal 0)'] = OFFLINE_EVENTS - (received.size - receivedBefore);
    out['outbox dropped'] = sup.state.get().cloud?.outbox.dropped ?? NaN;

    // 4. A burst of 10 000 state changes over ~1 s: publishes per second stay at the window rate.
    await new Promise((r) => setTimeout(r, 500));
    const s0 = statePublishes;
    t0 = performance.now();
    for (let i = 1; i <= STATE_CHANGES; i++) {
      sup.state.set('liveViewers', i % 7);
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    const burstS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 600));
    const n = statePublishes - s0;
    out['state: changes in burst'] = STATE_CHANGES;
    out['state: burst duration s'] = round(burstS, 2);
    out['state: publishes during burst (+trailing)'] = n;
    out['state: publishes/s'] = round(n / (burstS + 0.25), 1);
  } finally {
    await cloud.endAsync(true);
    await sup.shutdown('bench done');
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
