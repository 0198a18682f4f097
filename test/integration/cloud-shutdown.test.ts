import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProc } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { CloudClient, until } from './cloud-helpers.js';

/**
 * `availability` across a real daemon's SIGTERM, counted by an independent MQTT client that
 * subscribed before the daemon started: `online`, then exactly one `offline` (the will, asked
 * for by a DISCONNECT with reason 0x04: src/cloud/session.ts). The second case freezes the
 * broker (SIGSTOP) through the shutdown: the daemon writes its DISCONNECT into a socket nobody
 * reads and exits; the broker, thawed, finds either the DISCONNECT or a dead connection — the
 * will either way, once. (With the daemon's own `offline` + a normal DISCONNECT this case gave
 * two: the broker read the PUBLISH, but lost the DISCONNECT behind it to the connection reset.)
 */
const BASE = 'camd/CAMSIM0000001';

let broker: Broker | undefined;
let daemon: DaemonProc | undefined;
let cloud: CloudClient | undefined;
let dir: string | undefined;
let brokerPid: number | undefined;

afterEach(async () => {
  if (brokerPid) process.kill(brokerPid, 'SIGCONT');
  brokerPid = undefined;
  if (daemon && daemon.proc.exitCode === null && daemon.proc.signalCode === null) daemon.proc.kill('SIGKILL');
  daemon = undefined;
  await cloud?.close();
  cloud = undefined;
  await broker?.dispose();
  broker = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function setUp(): Promise<{ b: Broker; c: CloudClient; d: DaemonProc; avail: () => string[] }> {
  const b = (broker = await startMosquitto());
  dir = mkdtempSync(join(tmpdir(), 'camd-shutdown-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ cloud: { url: b.url, allowPlaintext: true } }));
  const c = (cloud = await CloudClient.connect(b.url));
  await c.subscribe(`${BASE}/availability`);
  const d = (daemon = await startDaemon({ dir }));
  const avail = () => c.on(`${BASE}/availability`).map((m) => m.text);
  await until(() => avail().includes('online'), 'online', 30_000);
  return { b, c, d, avail };
}

/** The broker's pid (the harness keeps the process to itself): the mosquitto listening on our port. */
async function mosquittoPid(port: number): Promise<number> {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`]).toString();
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`no listener on ${port}: ${out}`);
  return Number(m[1]);
}

describe('availability on SIGTERM (real daemon, real broker, independent subscriber)', () => {
  it('online, then exactly one offline (the will, asked for by DISCONNECT 0x04); retained for newcomers', async () => {
    const { b, c, d, avail } = await setUp();
    const t0 = Date.now();
    d.proc.kill('SIGTERM');
    const { code } = await d.exited;
    const exitMs = Date.now() - t0;
    expect(code).toBe(0);
    await until(() => avail().includes('offline'), 'offline', 10_000);
    // A second one would follow at once; give it ample time to show up.
    await new Promise((r) => setTimeout(r, 1500));
    expect(avail()).toEqual(['online', 'offline']);
    expect(c.on(`${BASE}/availability`).every((m) => m.retain)).toBe(true);
    // The retained value a newcomer sees.
    const late = await CloudClient.connect(b.url);
    try {
      await late.subscribe(`${BASE}/availability`);
      const got = await until(() => late.on(`${BASE}/availability`).at(-1), 'retained availability');
      expect(got).toMatchObject({ text: 'offline', retain: true });
    } finally {
      await late.close();
    }
    console.log(`SIGTERM: availability messages ${JSON.stringify(avail())}, daemon exited in ${exitMs} ms`);
  }, 90_000);

  it('broker frozen through the shutdown: still exactly one offline once it runs again', async () => {
    const { b, d, avail } = await setUp();
    brokerPid = await mosquittoPid(b.port);
    process.kill(brokerPid, 'SIGSTOP');
    const t0 = Date.now();
    d.proc.kill('SIGTERM');
    const { code } = await d.exited;
    const exitMs = Date.now() - t0;
    expect(code).toBe(0);
    process.kill(brokerPid, 'SIGCONT');
    brokerPid = undefined;
    await until(() => avail().includes('offline'), 'offline', 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(avail()).toEqual(['online', 'offline']);
    console.log(`SIGTERM with a frozen broker: availability messages ${JSON.stringify(avail())}, daemon exited in ${exitMs} ms`);
  }, 90_000);
});
