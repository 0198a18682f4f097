import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { indicatorService } from '../../src/indicator/service.js';
import { NetworkService } from '../../src/network/service.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { Context } from '../../src/supervisor/service.js';
import type { NetworkSummary } from '../../src/state/store.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The network manager on the sim board: the sim link model (cable, router) and the scripted
 * Wi-Fi radio, with connectivity checks against a real Mosquitto broker on loopback.
 */
const FAKE = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as ('setTimeout' | 'clearTimeout' | 'setInterval' | 'clearInterval' | 'Date')[] };
const TIMINGS = { pollMs: 2_000, checkIntervalMs: 200, checkRetryMs: 200, checkTimeoutMs: 5_000 };

let booted: BootedSim | undefined;
let broker: ChildProcess | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  broker?.kill('SIGKILL');
  broker = undefined;
  vi.useRealTimers();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function startBroker(dir: string, port: number): Promise<ChildProcess> {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = createServer(); // cheap probe: the port is taken once mosquitto listens
        s.once('error', () => resolve(true));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
      }),
    5_000,
  );
  return proc;
}

/** `brokerPort` points the cloud at a local broker; without it no cloud is configured (the `.invalid` placeholder). */
function prepare(opts: { brokerPort?: number; wifi?: { ssid: string; psk: string } } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'camd-net-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const url = opts.brokerPort ? `mqtt://127.0.0.1:${opts.brokerPort}` : 'mqtts://cloud.invalid:8883';
  writeFileSync(join(dir, 'data/config.json'), JSON.stringify({ cloud: { url, allowPlaintext: true } }));
  if (opts.wifi) writeFileSync(join(dir, 'data/secrets.json'), JSON.stringify({ wifi: opts.wifi }), { mode: 0o600 });
  return dir;
}

async function boot(dir: string, timings: Record<string, unknown> = TIMINGS): Promise<BootedSim> {
  const network = (ctx: Context) => new NetworkService(ctx, { timings });
  booted = await bootSim({ dir, services: [coreCommands, indicatorService, network] });
  return booted;
}

const net = (b: BootedSim): NetworkSummary => b.sup.state.get().network;
const led = (b: BootedSim) => (b.sup.state.get() as { led?: { state: string; color: string; mode: string } }).led;
const call = async (b: BootedSim, name: string, args: unknown) => {
  const r = await b.sup.commands.execute(name, args, { source: 'local' });
  if (!r.ok) throw new Error(`${name}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
};
const until = (b: BootedSim, pred: (n: NetworkSummary) => boolean, what: string) =>
  waitFor(() => pred(net(b)), 10_000).catch(() => {
    throw new Error(`network never reached "${what}"; last: ${JSON.stringify(net(b))}`);
  });

describe('network manager on the sim board', () => {
  it('wired wins, Wi-Fi is the hot standby; cable out → Wi-Fi, cable back → wired (real broker checks)', async () => {
    const port = await freePort();
    const dir = prepare({ brokerPort: port, wifi: { ssid: 'Home', psk: 'correct horse' } });
    broker = await startBroker(dir, port);
    const b = await boot(dir);
    await call(b, 'sim.wifi', { accessPoints: [{ ssid: 'Home', psk: 'correct horse', quality: 80 }] });

    await until(b, (n) => n.phase === 'online' && n.active === 'wired' && n.wifi?.connected === true, 'online via wired');
    expect(net(b)).toMatchObject({ wired: { iface: 'eth0', carrier: true, hasRoute: true }, wifi: { ssid: 'Home', signal: 80, saved: true }, check: { via: 'wired', ok: true, target: `127.0.0.1:${port}` } });
    expect(led(b)).toMatchObject({ state: 'working', color: 'blue', mode: 'slow' });
    let sim = await call(b, 'sim.wifi', {});
    expect(sim.links).toMatchObject({ eth0: { metric: 100 }, wlan0: { metric: 600 } });

    await call(b, 'sim.link', { iface: 'eth0', carrier: false });
    await until(b, (n) => n.phase === 'online' && n.active === 'wifi' && n.check?.via === 'wifi', 'online via Wi-Fi');
    sim = await call(b, 'sim.wifi', {});
    expect(sim.links).toMatchObject({ eth0: { metric: 600 }, wlan0: { metric: 100 } });

    await call(b, 'sim.link', { iface: 'eth0', carrier: true });
    await until(b, (n) => n.phase === 'online' && n.active === 'wired' && n.check?.via === 'wired', 'online via wired again');

    // The broker goes away: the check through wired fails, wired is demoted at once (Wi-Fi is
    // saved), and the failure is "retrying" within the offline grace.
    broker.kill('SIGKILL');
    await until(b, (n) => n.active === 'wifi' && n.check?.via === 'wifi' && n.check.ok === false, 'fallback to Wi-Fi');
    expect(net(b)).toMatchObject({ phase: 'connecting', reason: `wlan0 is up but 127.0.0.1:${port} is unreachable: ECONNREFUSED; retrying` });
    const logs = b.sup.logging.ring.recent().filter((l) => l.component === 'network' && l.msg === 'wired uplink demoted: falling back to Wi-Fi');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ reason: `eth0 is up but 127.0.0.1:${port} is unreachable: ECONNREFUSED` });
  });

  it('cable in but no router → network exception with the cause (slow red)', async () => {
    const b = await boot(prepare());
    await until(b, (n) => n.phase === 'online', 'online (no cloud configured)');
    expect(net(b).reason).toBe('no cloud configured; eth0 is up');
    await call(b, 'sim.link', { iface: 'eth0', carrier: true, route: false });
    await until(b, (n) => n.phase === 'exception', 'exception');
    expect(net(b)).toMatchObject({ active: null, reason: 'cable in on eth0 but no network (no default route); no Wi-Fi saved', wired: { carrier: true, hasRoute: false } });
    await waitFor(() => led(b)?.state === 'network-exception', 5_000);
  });

  it('no network, nothing saved → provisioning (fast blue); network.provision saves 0600 secrets and joins', async () => {
    const port = await freePort();
    const dir = prepare({ brokerPort: port });
    broker = await startBroker(dir, port);
    const b = await boot(dir);
    await call(b, 'sim.link', { iface: 'eth0', carrier: false });
    await until(b, (n) => n.phase === 'provisioning', 'provisioning');
    expect(net(b).reason).toBe('no network and no saved Wi-Fi');
    await waitFor(() => led(b)?.state === 'provisioning', 5_000);
    expect(led(b)).toMatchObject({ color: 'blue', mode: 'fast' });
    // The QR scanner runs while provisioning (on the capture tap's wide frames: no child of its own).
    await waitFor(() => b.sup.state.get().network.qrScanner === 'scanning', 5_000);
    expect(b.sup.state.get().children['qr-scan']).toBeUndefined();

    const bad = await b.sup.commands.execute('network.provision', { ssid: 'Home', psk: 'short', bindingToken: 'bind-0123456789' }, { source: 'cloud' });
    expect(bad).toEqual({ ok: false, error: { code: 'invalid_args', message: 'psk: Too small: expected string to have >=8 characters', path: 'psk' } });
    expect(b.sup.secrets.get()).toEqual({});

    await call(b, 'sim.wifi', { accessPoints: [{ ssid: 'Home', psk: 'correct horse', quality: 55 }] });
    const r = await b.sup.commands.execute('network.provision', { ssid: 'Home', psk: 'correct horse', bindingToken: 'bind-0123456789' }, { source: 'cloud' });
    expect(r).toEqual({ ok: true, result: { ssid: 'Home', saved: true } });
    await until(b, (n) => n.phase === 'online' && n.active === 'wifi', 'online via Wi-Fi');
    const file = join(dir, 'data/secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { wifi: unknown; binding: { token: string; boundAt: number } };
    expect(saved.wifi).toEqual({ ssid: 'Home', psk: 'correct horse' });
    expect(saved.binding.token).toBe('bind-0123456789');
    await waitFor(() => b.sup.state.get().network.qrScanner === undefined, 5_000);
    // Credentials never reach the state or the log.
    expect(JSON.stringify(b.sup.state.get())).not.toContain('correct horse');
    expect(JSON.stringify(b.sup.logging.ring.recent())).not.toContain('correct horse');

    // Factory reset: the core wipes the secrets, our step forgets the OS network profile.
    expect((await call(b, 'sim.wifi', {})).profiles).toEqual(['Home']);
    const res = await b.sup.factoryReset.run('test');
    expect(res.done).toContain('network.wifi');
    expect(res.failed).toEqual([]);
    expect((await call(b, 'sim.wifi', {})).profiles).toEqual([]);
  });

  it('a rejected password → back to provisioning with the reason; the right one joins', async () => {
    const b = await boot(prepare());
    await call(b, 'sim.link', { iface: 'eth0', carrier: false });
    await call(b, 'sim.wifi', { accessPoints: [{ ssid: 'Home', psk: 'correct horse', quality: 60 }] });
    await call(b, 'network.provision', { ssid: 'Home', psk: 'wrong horse', bindingToken: 'bind-0123456789' });
    await until(b, (n) => n.phase === 'provisioning' && !!n.reason?.includes('rejected'), 'provisioning after auth failure');
    expect(net(b).reason).toBe('Wi-Fi "Home" rejected the password: Secrets were required, but not provided (wrong passphrase); show a new Wi-Fi QR code or send network.provision');
    await call(b, 'network.provision', { ssid: 'Home', psk: 'correct horse', bindingToken: 'bind-0123456789' });
    await until(b, (n) => n.phase === 'online' && n.active === 'wifi', 'online via Wi-Fi');
  });
});

describe('network manager on the sim board, under fake timers', () => {
  it('cloud unreachable through both uplinks: "connecting" for the offline grace (30 s), then exception (slow red)', async () => {
    vi.useFakeTimers(FAKE);
    const port = await freePort(); // nothing listens there
    const b = await boot(prepare({ brokerPort: port, wifi: { ssid: 'Home', psk: 'correct horse' } }), { ...TIMINGS, checkRetryMs: 5_000, demoteBackoff: { baseMs: 120_000, maxMs: 600_000 } });
    await call(b, 'sim.wifi', { accessPoints: [{ ssid: 'Home', psk: 'correct horse', quality: 80 }] });
    // vi.waitFor moves the fake clock by `interval` per check: 20 s of real patience can move it
    // at most 20 s, short of the 30 s grace this test then measures.
    await vi.waitFor(() => expect(net(b)).toMatchObject({ active: 'wifi', check: { via: 'wifi', ok: false } }), { timeout: 20_000, interval: 20 });
    expect(net(b).phase).toBe('connecting');
    expect(led(b)).toMatchObject({ state: 'working' });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(net(b)).toMatchObject({ phase: 'exception', reason: `wlan0 is up but 127.0.0.1:${port} is unreachable: ECONNREFUSED` });
    expect(led(b)).toMatchObject({ state: 'network-exception', color: 'red', mode: 'slow' });
  });

  it('saved Wi-Fi out of range → exception; retried on a backoff; Wi-Fi lost and back → rejoined', async () => {
    vi.useFakeTimers(FAKE);
    const b = await boot(prepare({ wifi: { ssid: 'Home', psk: 'correct horse' } }), { ...TIMINGS, wifiBackoff: { baseMs: 5_000, maxMs: 60_000 } });
    await call(b, 'sim.link', { iface: 'eth0', carrier: false });
    await vi.advanceTimersByTimeAsync(10);
    expect(net(b)).toMatchObject({ phase: 'exception', active: null, reason: 'saved Wi-Fi "Home" not reachable: "Home" not in range (0 networks seen)' });
    expect(led(b)).toMatchObject({ state: 'network-exception', color: 'red', mode: 'slow' });

    await call(b, 'sim.wifi', { accessPoints: [{ ssid: 'Home', psk: 'correct horse', quality: 40 }] });
    await vi.advanceTimersByTimeAsync(10);
    // The AP is back but the backoff from the first failure (5 s) has not run out yet.
    expect(net(b).phase).toBe('exception');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(net(b)).toMatchObject({ phase: 'online', active: 'wifi', wifi: { ssid: 'Home', connected: true } });

    await call(b, 'sim.link', { iface: 'wlan0', carrier: false });
    await vi.advanceTimersByTimeAsync(10);
    expect(net(b)).toMatchObject({ phase: 'exception', active: null });
    await call(b, 'sim.link', { iface: 'wlan0', carrier: true });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(net(b)).toMatchObject({ phase: 'online', active: 'wifi' });
  });
});
