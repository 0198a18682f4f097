import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../harness/daemon.js';
import { createVethPair, deleteVethPair, ip, netnsProblem } from '../harness/netns.js';
import { waitUntil } from '../harness/wait.js';
import { CloudClient } from '../integration/cloud-helpers.js';
import { connectedDaemon, figures, kill9, prepareDir } from './fault-kit.js';
import { cloudState, EventLedger } from './outage-helpers.js';

/**
 * The camera's link lost for real: the whole daemon runs in a network namespace made here, its
 * only way to the broker a veth pair into a second namespace where Mosquitto listens.
 *
 *   [ns cam] daemon, eth0 10.214.N.2/30  ←veth→  [ns brk] 10.214.N.1/30 mosquitto
 *                                                         + a Unix socket for the test's subscriber
 *
 * `ip link set eth0 down` in `cam` cuts it (an established TCP connection just goes silent; the
 * MQTT keepalive has to find out); events emitted meanwhile are acknowledged on flash; link up
 * again and every one of them reaches the subscriber. Nothing here can reach any other address.
 */
const N = (process.pid % 200) + 20;
const CAM = `camd-${process.pid}-fcam`;
const BRK = `camd-${process.pid}-fbrk`;
const BROKER_IP = `10.214.${N}.1`;
const CAM_IP = `10.214.${N}.2`;
const PAIR = { cam: CAM, brk: BRK, camIp: CAM_IP, brokerIp: BROKER_IP, camIf: `fcc${N}`, brkIf: `fcb${N}` };
const LOSSES = Math.max(1, Number(process.env.CAMD_LINK_LOSSES) || 2);
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;

const problem = netnsProblem('fault');
if (problem) console.warn(`netns link-loss fault test SKIPPED: 'ip netns add' is not permitted here (${problem})`);

let work: string | undefined;
let broker: ChildProcess | undefined;
let d: DaemonProc | undefined;
let cloud: CloudClient | undefined;

afterAll(async () => {
  await cloud?.close();
  if (d) {
    await kill9(d);
    rmSync(d.dir, { recursive: true, force: true });
  }
  broker?.kill('SIGKILL');
  deleteVethPair(PAIR);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(problem !== null)('network link loss (network namespaces)', () => {
  it('events emitted while the link is down all arrive after it is back', async () => {
    work = mkdtempSync(join(tmpdir(), 'camd-fnetns-'));
    const sock = join(work, 'mosquitto.sock');
    const user = process.getuid?.() === 0 ? 'user root\n' : '';
    writeFileSync(join(work, 'mosquitto.conf'), `listener 1883 ${BROKER_IP}\nlistener 0 ${sock}\nallow_anonymous true\npersistence true\npersistence_location ${work}/\n${user}`);
    createVethPair(PAIR);
    let brokerOut = '';
    broker = spawn('ip', ['netns', 'exec', BRK, 'mosquitto', '-c', join(work, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    broker.stdout!.on('data', (c: Buffer) => (brokerOut += c.toString()));
    broker.stderr!.on('data', (c: Buffer) => (brokerOut += c.toString()));
    await waitUntil(() => existsSync(sock) || (broker!.exitCode !== null ? Promise.reject(new Error(`mosquitto exited:\n${brokerOut}`)) : undefined), 'mosquitto in its namespace');

    // The subscriber reaches the broker through the Unix socket (a path: no namespace needed).
    cloud = await CloudClient.connect(`mqtt+unix://${sock}`, { clientId: 'netns-cloud', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await cloud.subscribe(`${BASE}/events`);
    const ledger = new EventLedger(cloud, `${BASE}/events`);
    const config = { cloud: { url: `mqtt://${BROKER_IP}:1883`, allowPlaintext: true, keepaliveSeconds: 10 }, network: { offlineGraceSeconds: 5 } };
    d = await connectedDaemon(prepareDir(config, undefined, 'camd-fnetns-d-'), { netns: CAM });

    const rounds: { downNoticedS: number; reconnectS: number; drainS: number; emittedWhileDown: number }[] = [];
    for (let l = 0; l < LOSSES; l++) {
      await ledger.emit(d, `l${l}-before`);
      await ledger.allDelivered(`the events before link loss ${l}`);

      const cut = Date.now();
      ip('-n', CAM, 'link', 'set', 'eth0', 'down');
      // At once, before the daemon can know: these go out on a dead link, or wait in the outbox.
      await ledger.emit(d, `l${l}-cut`);
      await waitUntil(async () => !(await cloudState(d!)).cloud.connected || undefined, `the daemon noticing link loss ${l}`, 40_000, 200);
      const downNoticedS = (Date.now() - cut) / 1000;
      for (let b = 0; b < 2; b++) await ledger.emit(d, `l${l}-down${b}`);

      const restored = Date.now();
      ip('-n', CAM, 'link', 'set', 'eth0', 'up');
      await waitUntil(async () => (await cloudState(d!)).cloud.connected || undefined, `the daemon back after link loss ${l}`, 70_000, 200);
      const reconnectS = (Date.now() - restored) / 1000;
      await waitUntil(async () => (await cloudState(d!)).cloud.outbox.depth === 0 || undefined, 'the outbox drained', 30_000, 100);
      await ledger.allDelivered(`the events of link loss ${l}`);
      rounds.push({ downNoticedS, reconnectS, drainS: (Date.now() - restored) / 1000, emittedWhileDown: 3 * ledger.count });
    }

    const f = ledger.figures();
    figures('netns-link-loss', { losses: LOSSES, keepaliveSeconds: 10, ...f, rounds });
    expect(f.lost).toBe(0);
    ledger.expectOrderedGapFree();
    expect(d.proc.exitCode).toBeNull();
  });
});
