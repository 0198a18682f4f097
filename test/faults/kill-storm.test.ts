import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { EventPayloadSchema } from '../../src/cloud/schema.js';
import { NO_BROKER } from '../harness/boot.js';
import { startDaemon, type DaemonProc } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { pause, waitUntil } from '../harness/wait.js';
import { CloudClient } from '../integration/cloud-helpers.js';
import { brokerConfig, connectedDaemon, faultSeed, figures, kill9, outboxDepth, prepareDir, seeded } from './fault-kit.js';

/**
 * `kill -9` storms against the real daemon process, restarted on the same data dir each time:
 *
 * 1. during config writes (`config.set` over the control socket, one after the other): after
 *    every kill the config on disk is valid and whole, and never older than the last write the
 *    daemon acknowledged; the restarted daemon runs on it (source `file`).
 * 2. during event bursts (`sim.emit-event`): an independent MQTT subscriber with a persistent
 *    session collects `events`; every event of an acknowledged burst arrives, duplicates are
 *    counted, the durable sequence has no gap (the crash test in test/integration, many times).
 *
 * Kill times come from a seeded generator (`CAMD_FAULT_SEED`); `CAMD_KILL_ROUNDS` sets the rounds.
 */
const SEED = faultSeed(4242);
const ROUNDS = Math.max(2, Number(process.env.CAMD_KILL_ROUNDS) || 20);
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;
const OUTBOX_BASE = 16 * 1024 * 1024;

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

function track(d: DaemonProc): DaemonProc {
  cleanup.push(() => kill9(d));
  return d;
}

/** The write number a config carries: device.name `w<n>` and outboxMaxBytes base + n must agree. */
function writeNumber(cfg: { device: { name: string }; cloud: { outboxMaxBytes: number } }): number {
  const byName = cfg.device.name === 'Camera' ? 0 : Number(/^w(\d+)$/.exec(cfg.device.name)?.[1] ?? NaN);
  const byBytes = cfg.cloud.outboxMaxBytes - OUTBOX_BASE;
  if (byName !== byBytes) throw new Error(`torn config: device.name ${cfg.device.name} vs outboxMaxBytes ${cfg.cloud.outboxMaxBytes}`);
  return byName;
}

describe('kill -9 storms (real daemon process, restarted on the same data dir)', () => {
  it('during config writes: the config is always valid and never older than the last acknowledged write', async () => {
    const rng = seeded(SEED);
    const dir = prepareDir({ ...NO_BROKER, cloud: { ...NO_BROKER.cloud, outboxMaxBytes: OUTBOX_BASE } }, undefined, 'camd-killcfg-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    let sent = 0;
    let acked = 0;
    const perRound: { acked: number; killAfterMs: number; onDisk: number; inFlight: boolean }[] = [];
    const startMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = Date.now();
      const d = track(await startDaemon({ dir }));
      startMs.push(Date.now() - t0);
      // The restarted daemon runs on the file, and on the newest acknowledged write or later.
      const st = (await d.call('status')) as { ok: true; result: { config: { source: string; error?: unknown } } };
      expect(st.result.config.source).toBe('file');
      expect(st.result.config.error).toBeUndefined();
      const running = writeNumber(((await d.call('config.get')) as { result: Parameters<typeof writeNumber>[0] }).result);
      expect(running).toBeGreaterThanOrEqual(acked);
      expect(running).toBeLessThanOrEqual(sent);

      const killAfterMs = rng.int(0, 1000);
      let stop = false;
      let inFlight = false;
      let ackedNow = 0;
      const writer = (async () => {
        while (!stop) {
          const n = ++sent;
          inFlight = true;
          const r = await d.call('config.set', { patch: { device: { name: `w${n}` }, cloud: { outboxMaxBytes: OUTBOX_BASE + n } } }).catch(() => undefined);
          inFlight = false;
          if (!r) return; // the connection died with the daemon: not acknowledged
          expect(r.ok).toBe(true);
          acked = n;
          ackedNow++;
        }
      })();
      // A first write acknowledged in this round, then a random moment in the writes that follow.
      await waitUntil(() => ackedNow >= 1 || undefined, `a first write acknowledged in round ${round}`, 20_000);
      await pause(killAfterMs);
      const wasInFlight = inFlight;
      d.proc.kill('SIGKILL');
      stop = true;
      await d.exited;
      await writer;

      // On disk, before anyone reads it: both copies whole, valid, the newest one not older than acked.
      const file = JSON.parse(readFileSync(join(dir, 'data', 'config.json'), 'utf8')) as unknown;
      const parsed = ConfigSchema.safeParse(file);
      expect(parsed.success, `config.json after kill ${round}`).toBe(true);
      const onDisk = writeNumber(parsed.data!);
      expect(onDisk).toBeGreaterThanOrEqual(acked);
      expect(onDisk).toBeLessThanOrEqual(sent);
      const lastGood = ConfigSchema.safeParse(JSON.parse(readFileSync(join(dir, 'data', 'config.json.last-good'), 'utf8')));
      expect(lastGood.success, `config.json.last-good after kill ${round}`).toBe(true);
      // Written right after config.json by every commit: an acknowledged write is in it too.
      expect(writeNumber(lastGood.data!)).toBeGreaterThanOrEqual(acked);
      expect(writeNumber(lastGood.data!)).toBeLessThanOrEqual(onDisk);
      perRound.push({ acked, killAfterMs, onDisk, inFlight: wasInFlight });
    }
    // A last start: it comes up on the newest acknowledged write (or the one in flight at the kill).
    const last = track(await startDaemon({ dir }));
    const final = writeNumber(((await last.call('config.get')) as { result: Parameters<typeof writeNumber>[0] }).result);
    expect(final).toBeGreaterThanOrEqual(acked);
    last.proc.kill('SIGTERM');
    expect((await last.exited).code).toBe(0);
    // Temp files of writes cut by a kill (`.config.json.<random>.tmp`): counted, see the report.
    const leftovers = readdirSync(join(dir, 'data')).filter((n) => n.endsWith('.tmp'));
    figures('kill-config', {
      seed: SEED,
      kills: ROUNDS,
      writesSent: sent,
      writesAcknowledged: acked,
      killsWithAWriteInFlight: perRound.filter((r) => r.inFlight).length,
      inFlightWritesThatLanded: perRound.filter((r) => r.onDisk > r.acked).length,
      olderThanAcknowledged: 0,
      daemonStartSeconds: { median: median(startMs) / 1000, max: Math.max(...startMs) / 1000 },
      leftoverTempFiles: leftovers.length,
    });
  });

  it('during event bursts: no acknowledged event lost, duplicates counted, no gap in the sequence', async () => {
    const rng = seeded(SEED + 1);
    const broker: Broker = await startMosquitto();
    cleanup.push(() => broker.dispose());
    const dir = prepareDir(brokerConfig(broker.url), undefined, 'camd-killev-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    // The independent subscriber: a persistent session, as a real backend keeps.
    const cloud = await CloudClient.connect(broker.url, { clientId: 'kill-storm-cloud', clean: false, properties: { sessionExpiryInterval: 3600 } });
    cleanup.push(() => cloud.close());
    await cloud.subscribe(`${BASE}/events`);
    await cloud.subscribe(`${BASE}/availability`);

    const COUNT = 200;
    const acked = new Set<string>(); // `${round}/${batch}`
    const tried: string[] = [];
    const rounds = Math.max(2, Math.ceil(ROUNDS / 2));
    for (let round = 0; round < rounds; round++) {
      const d = track(await connectedDaemon(dir));
      const killAfterMs = rng.int(0, 1500);
      let stop = false;
      let ackedNow = 0;
      const emitter = (async () => {
        for (let batch = 0; !stop; batch++) {
          tried.push(`${round}/${batch}`);
          const r = await d
            .call('sim.emit-event', { count: COUNT, kind: 'detection', type: 'test.storm', data: { round, batch } })
            .catch(() => undefined);
          if (!r) return;
          expect(r.ok).toBe(true);
          acked.add(`${round}/${batch}`);
          ackedNow++;
        }
      })();
      // Each round kills with bursts acknowledged and one in progress: the first burst on flash,
      // then a random moment in the following ones.
      await waitUntil(() => ackedNow >= 1 || undefined, `a first burst acknowledged in round ${round}`, 20_000);
      await pause(killAfterMs);
      d.proc.kill('SIGKILL');
      stop = true;
      await d.exited;
      await emitter;
    }
    // The last daemon delivers what is left and stays up.
    const d = track(await connectedDaemon(dir));
    const final = await d.call('sim.emit-event', { count: COUNT, kind: 'detection', type: 'test.storm', data: { round: rounds, batch: 0 } });
    expect(final.ok).toBe(true);
    acked.add(`${rounds}/0`);
    await waitUntil(async () => (await outboxDepth(d)) === 0 || undefined, 'the outbox drained', 30_000);

    const seen = new Map<string, { seq: number; key: string; n: number }>();
    // Every event's first sighting (other kinds too: the durable sequence numbers them all).
    const seqById = new Map<string, number>();
    let received = 0;
    const key = (e: { data?: Record<string, unknown> }): string => `${e.data!.round as number}/${e.data!.batch as number}`;
    await waitUntil(() => {
      for (const raw of cloud.json(`${BASE}/events`).slice(received)) {
        received++;
        const e = EventPayloadSchema.parse(raw);
        if (!seqById.has(e.id)) seqById.set(e.id, e.seq);
        if (e.type !== 'test.storm') continue;
        if (!seen.has(e.id)) seen.set(e.id, { seq: e.seq, key: key(e), n: e.data!.n as number });
      }
      return [...acked].every((k) => [...seen.values()].filter((e) => e.key === k).length === COUNT) || undefined;
    }, 'every acknowledged burst at the subscriber', 30_000);

    const first = [...seen.values()];
    const lost = [...acked].reduce((sum, k) => sum + COUNT - new Set(first.filter((e) => e.key === k).map((e) => e.n)).size, 0);
    const storm = cloud.json<{ type: string }>(`${BASE}/events`).filter((e) => e.type === 'test.storm').length;
    const seqs = [...seqById.values()];
    figures('kill-events', {
      seed: SEED + 1,
      kills: rounds,
      burstsTried: tried.length + 1,
      burstsAcknowledged: acked.size,
      eventsAcknowledged: acked.size * COUNT,
      eventsDelivered: first.length,
      deliveredFromCutBursts: first.filter((e) => !acked.has(e.key)).length,
      lostAcknowledged: lost,
      duplicates: storm - first.length,
      offlineAnnouncements: cloud.on(`${BASE}/availability`).filter((m) => m.text === 'offline').length,
    });
    expect(lost).toBe(0);
    // In order and gap-free: the durable records are 1..N in the order they were first seen.
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    d.proc.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  });
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
