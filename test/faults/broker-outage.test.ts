import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { waitUntil } from '../harness/wait.js';
import { CloudClient } from '../integration/cloud-helpers.js';
import { brokerConfig, connectedDaemon, figures, kill9, prepareDir } from './fault-kit.js';
import { cloudState, EventLedger } from './outage-helpers.js';

/**
 * The real Mosquitto stopped and started again under a real daemon process, several times, with
 * events emitted while it is down: each outage is noticed (link down, then the camera fault
 * `cloud.unreachable` after the offline grace), the daemon reconnects on its own once the broker
 * is back, and every event it acknowledged reaches an independent subscriber (0 lost).
 */
const OUTAGES = Math.max(1, Number(process.env.CAMD_OUTAGES) || 3);
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;

let broker: Broker | undefined;
let d: DaemonProc | undefined;
let cloud: CloudClient | undefined;
afterAll(async () => {
  await cloud?.close();
  if (d) {
    await kill9(d);
    rmSync(d.dir, { recursive: true, force: true });
  }
  await broker?.dispose();
});

describe('broker outage', () => {
  it('events emitted while the broker is down all arrive after it is back', async () => {
    broker = await startMosquitto();
    // A persistent session on the cloud side, as a real backend has (it must not miss events).
    cloud = await CloudClient.connect(broker.url, { clientId: 'outage-cloud', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await cloud.subscribe(`${BASE}/events`);
    const ledger = new EventLedger(cloud, `${BASE}/events`);
    d = await connectedDaemon(prepareDir(brokerConfig(broker.url, { network: { offlineGraceSeconds: 5 } }), undefined, 'camd-outage-'));

    const rounds: { downNoticedS: number; faultAfterS: number; reconnectS: number; drainS: number; emittedWhileDown: number }[] = [];
    for (let o = 0; o < OUTAGES; o++) {
      await ledger.emit(d, `o${o}-before`);
      await ledger.allDelivered(`the events before outage ${o}`);

      const stopped = Date.now();
      await broker.stop();
      await waitUntil(async () => !(await cloudState(d!)).cloud.connected || undefined, `the daemon noticing outage ${o}`);
      const downNoticedS = (Date.now() - stopped) / 1000;
      // Events while the broker is away: acknowledged = on flash, waiting in the outbox.
      let depth = 0;
      for (let b = 0; b < 3; b++) depth = await ledger.emit(d, `o${o}-down${b}`);
      // All of them wait on flash (the reply's depth is the outbox's own, not a state snapshot).
      expect(depth).toBeGreaterThanOrEqual(3 * ledger.count);
      // The offline grace (5 s here) runs out: the camera says the cloud is unreachable.
      await waitUntil(async () => !!(await cloudState(d!)).faults['cloud.unreachable'] || undefined, 'the cloud.unreachable fault');
      const faultAfterS = (Date.now() - stopped) / 1000;

      const started = Date.now();
      await broker.start();
      await waitUntil(async () => (await cloudState(d!)).cloud.connected || undefined, `the daemon back after outage ${o}`, 70_000, 100);
      const reconnectS = (Date.now() - started) / 1000;
      await waitUntil(async () => (await cloudState(d!)).cloud.outbox.depth === 0 || undefined, 'the outbox drained', 30_000, 100);
      await ledger.allDelivered(`the events of outage ${o}`);
      const drainS = (Date.now() - started) / 1000;
      const after = await cloudState(d);
      expect(after.faults['cloud.unreachable']).toBeUndefined();
      rounds.push({ downNoticedS, faultAfterS, reconnectS, drainS, emittedWhileDown: 3 * ledger.count });
    }

    const f = ledger.figures();
    figures('broker-outage', { outages: OUTAGES, ...f, rounds });
    expect(f.lost).toBe(0);
    ledger.expectOrderedGapFree();
    expect(d.proc.exitCode).toBeNull();
  });
});
