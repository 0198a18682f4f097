import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPO } from '../harness/boot.js';
import { createVethPair, deleteVethPair, ip, netnsProblem } from '../harness/netns.js';
import type { NetworkSummary } from '../../src/state/store.js';
import { PROCESS_TIMEOUTS, patience } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The real connectivity path, in network namespaces made here (the project's own test hosts):
 *
 *   [ns cam]  eth0 10.213.N.2/30, default via .1  ←veth→  [ns brk]  10.213.N.1/30, mosquitto
 *
 * The network controller runs inside `cam` (network-netns-runner.ts): real sysfs carrier, real
 * /proc/net/route, real `ip route` metric changes, real TCP + MQTT CONNECT checks. Wi-Fi is the
 * scripted radio. Nothing here can reach any other address: `cam` has no other route.
 */
const N = process.pid % 200;
const CAM = `camd-${process.pid}-cam`;
const BRK = `camd-${process.pid}-brk`;
const BROKER_IP = `10.213.${N}.1`;
const CAM_IP = `10.213.${N}.2`;
const PAIR = { cam: CAM, brk: BRK, camIp: CAM_IP, brokerIp: BROKER_IP, camIf: `cmc${N}`, brkIf: `cmb${N}` };

const problem = netnsProblem('network');
if (problem) console.warn(`network-netns tests SKIPPED: 'ip netns add' is not permitted here (${problem}); they need root or CAP_NET_ADMIN + CAP_SYS_ADMIN`);

let work: string;
let broker: ChildProcess | undefined;
let runner: ChildProcess | undefined;
const states: NetworkSummary[] = [];
let stderr = '';

function startBroker(): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', BRK, 'mosquitto', '-c', join(work, 'mosquitto.conf')], { stdio: 'ignore' });
  return p;
}

/**
 * Waits (real time, bounded: a real child in a real namespace) for a summary matching `pred`.
 * `timeoutMs` is an idle machine's need; the deadline is patience(timeoutMs) (harness/wait.ts).
 */
async function expectState(pred: (s: NetworkSummary) => boolean, what: string, timeoutMs = 10_000): Promise<NetworkSummary> {
  const end = Date.now() + patience(timeoutMs);
  for (;;) {
    const hit = states.findLast(pred);
    if (hit && hit === states.at(-1)) return hit;
    if (Date.now() > end) throw new Error(`never saw "${what}"; last states:\n${states.slice(-4).map((s) => JSON.stringify(s)).join('\n')}\nrunner stderr:\n${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(problem !== null)('connectivity check and fallback in network namespaces', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'camd-netns-'));
    writeFileSync(join(work, 'mosquitto.conf'), `listener 1883 ${BROKER_IP}\nallow_anonymous true\npersistence false\n`);
    createVethPair(PAIR);
    ip('-n', CAM, 'route', 'add', 'default', 'via', BROKER_IP, 'dev', 'eth0', 'metric', '100');
    broker = startBroker();

    runner = spawn('ip', ['netns', 'exec', CAM, process.execPath, '--import', 'tsx', join(REPO, 'test/integration/network-netns-runner.ts')], {
      cwd: REPO,
      env: { ...process.env, CAMD_TEST_BROKER: `${BROKER_IP}:1883` },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    runner.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: runner.stdout! }).on('line', (line) => states.push(JSON.parse(line) as NetworkSummary));
  });

  afterAll(() => {
    // Runs even when beforeAll or a test failed: nothing of ours may outlive the run.
    runner?.stdin?.end();
    runner?.kill('SIGKILL');
    broker?.kill('SIGKILL');
    deleteVethPair(PAIR);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('checker sees the broker → online via wired; broker gone → wired demoted, Wi-Fi takes over; link down/up → wired again', async () => {
    const target = `${BROKER_IP}:1883`;
    // 1. Up: a real MQTT CONNECT/CONNACK through the namespace's eth0.
    const online = await expectState((s) => s.phase === 'online' && s.active === 'wired', 'online via wired');
    expect(online).toMatchObject({ wired: { iface: 'eth0', carrier: true, hasRoute: true, address: CAM_IP }, wifi: { connected: true, ssid: 'Home' }, check: { via: 'wired', ok: true, target } });
    expect(ip('-n', CAM, 'route', 'show', 'default')).toContain('metric 100');

    // 2. The broker dies: the checker reports it down, the policy falls back to Wi-Fi and the
    //    real route table says so (eth0 moved to the standby metric).
    broker!.kill('SIGKILL');
    await expectState((s) => s.active === 'wifi' && s.check?.via === 'wifi' && s.check.ok === false, 'fallback to Wi-Fi after a failed check');
    expect(ip('-n', CAM, 'route', 'show', 'default')).toMatch(new RegExp(`default via ${BROKER_IP.replace(/\./g, '\\.')} dev eth0 metric 600`));
    expect(stderr).toContain('wired uplink demoted: falling back to Wi-Fi');
    expect(stderr).toContain(`eth0 is up but ${target} is unreachable: ECONNREFUSED`);

    // 3. The cable goes: carrier and route are gone, the checker cannot even route.
    broker = startBroker();
    ip('-n', CAM, 'link', 'set', 'eth0', 'down');
    const down = await expectState((s) => s.wired?.carrier === false && s.check?.ok === false && s.check.error === 'ENETUNREACH', 'eth0 down');
    expect(down).toMatchObject({ active: 'wifi', wired: { carrier: false, hasRoute: false }, phase: 'connecting' });

    // 4. Cable back (and the router's lease: the default route): the re-plug ends the
    //    demotion, wired is preferred and checked again.
    ip('-n', CAM, 'link', 'set', 'eth0', 'up');
    ip('-n', CAM, 'route', 'add', 'default', 'via', BROKER_IP, 'dev', 'eth0', 'metric', '600');
    await expectState((s) => s.phase === 'online' && s.active === 'wired' && s.check?.via === 'wired' && s.check.ok, 'online via wired again');
    expect(ip('-n', CAM, 'route', 'show', 'default')).toContain('metric 100');
  });
});
