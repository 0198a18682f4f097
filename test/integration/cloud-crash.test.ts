import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventPayloadSchema } from '../../src/cloud/schema.js';
import { startDaemon, type DaemonProc } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { CloudClient, cloudTestDir, until } from './cloud-helpers.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The real daemon as a child process, killed with SIGKILL in the middle of a stream of events,
 * then started again on the same data dir: every event it confirmed as queued arrives, in order,
 * the durable ones are a gap-free sequence, and the broker announced it offline (LWT).
 */
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;

let broker: Broker;
let dir: string;
const procs: DaemonProc[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  dir = cloudTestDir(broker.url, 'camd-crash-');
});
afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await broker.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function connectedDaemon(): Promise<DaemonProc> {
  const d = await startDaemon({ dir });
  procs.push(d);
  await until(async () => {
    const r = await d.call('status');
    return r.ok && (r.result as { cloud?: { connected: boolean } }).cloud?.connected;
  }, 'daemon connected to the broker', 20_000);
  return d;
}

const emit = (d: DaemonProc, batch: number) =>
  // Cloud records only: no service reacts to a camera.event (features react to detection.episode).
  d.call('sim.emit-event', { count: 250, kind: 'detection', type: 'test.detection', lens: 'wide', data: { batch } });

describe('event outbox across kill -9', () => {
  it('loses nothing the daemon accepted and keeps the order', async () => {
    const cloud = await CloudClient.connect(broker.url, { clientId: 'cloud-crash', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await cloud.subscribe(`${BASE}/events`);
    await cloud.subscribe(`${BASE}/availability`);

    const d1 = await connectedDaemon();
    const confirmed: number[] = [];
    for (let b = 0; b < 4; b++) {
      const r = await emit(d1, b);
      expect(r.ok).toBe(true);
      confirmed.push(b);
    }
    // Two more batches on their way in, events being published: now SIGKILL.
    const inflight = [4, 5].map((b) => emit(d1, b).then((r) => (r.ok ? b : undefined), () => undefined));
    await until(() => cloud.on(`${BASE}/events`).length >= 500, 'events flowing');
    d1.proc.kill('SIGKILL');
    expect((await d1.exited).signal).toBe('SIGKILL');
    for (const b of await Promise.all(inflight)) if (b !== undefined) confirmed.push(b);
    await until(() => cloud.on(`${BASE}/availability`).some((m) => m.text === 'offline'), 'LWT offline');

    const d2 = await connectedDaemon();
    expect((await emit(d2, 99)).ok).toBe(true);
    const unique = async (): Promise<Map<string, { seq: number; batch: number; n: number }>> => {
      const m = new Map<string, { seq: number; batch: number; n: number }>();
      for (const raw of cloud.json(`${BASE}/events`)) {
        const e = EventPayloadSchema.parse(raw);
        if (!m.has(e.id)) m.set(e.id, { seq: e.seq, batch: e.data!.batch as number, n: e.data!.n as number });
      }
      return m;
    };
    await until(async () => [...(await unique()).values()].filter((e) => e.batch === 99).length === 250, 'post-restart batch', 20_000);
    const firstSeen = [...(await unique()).values()];

    // Every confirmed batch is complete.
    for (const b of confirmed) expect(firstSeen.filter((e) => e.batch === b).map((e) => e.n), `batch ${b}`).toEqual(Array.from({ length: 250 }, (_, i) => i));
    // In order: sequence numbers (first sightings) strictly increase, and batches/indices with them.
    const seqs = firstSeen.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const order = firstSeen.map((e) => e.batch * 1000 + e.n);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // No gaps: whatever reached flash before the kill was delivered (durable records are 1..N).
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    // Of the batches cut by the kill, what arrived is a prefix of each.
    for (const b of [4, 5]) {
      const ns = firstSeen.filter((e) => e.batch === b).map((e) => e.n);
      expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => i));
    }
    await until(async () => {
      const st = await d2.call('status');
      return st.ok && (st.result as { cloud: { outbox: { depth: number } } }).cloud.outbox.depth === 0;
    }, 'outbox empty');
    d2.proc.kill('SIGTERM');
    expect((await d2.exited).code).toBe(0);
    await until(() => cloud.on(`${BASE}/availability`).at(-1)?.text === 'offline', 'offline announced on shutdown');
    await cloud.close();
  });
});
