import { ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessionBus } from '@jellybrick/dbus-next';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NmDbusJoiner, NmDbusWifiBackend } from '../../src/network/wifi-nm-dbus.js';
import { NodeWifiBackend } from '../../src/network/wifi-nmcli.js';
import { FakeNetworkManager, plain, startPrivateBus, type PrivateBus } from './network-dbus-peer.js';

/**
 * The board's Wi-Fi backend, composed as the network service composes it (node-wifi for the
 * scan, D-Bus for the join), joins a network while every child process is watched three ways:
 *  - a hook on ChildProcess.prototype.spawn (every spawn/execFile/exec goes through it) records
 *    the argv and environment handed to the kernel, and reads /proc/<pid>/cmdline and environ
 *    the moment the child exists;
 *  - a poller walks /proc every few ms for all descendants of this process (grandchildren too,
 *    however they were started) and reads their cmdline and environ;
 *  - the fake `nmcli` copies its own /proc/self/cmdline and environ to a file.
 * None of them may contain the PSK. A control spawns children that do carry it, so the watch is
 * shown to see what it is looking for.
 */
const PSK = 'C0rrect-Horse-Battery';
const dir = mkdtempSync(join(tmpdir(), 'camd-wifi-secrets-'));
writeFileSync(
  join(dir, 'nmcli'),
  `#!/bin/sh
cat /proc/$$/cmdline > '${dir}/self-cmdline-'$$
cat /proc/$$/environ > '${dir}/self-environ-'$$
# Long enough for the /proc poller to see this child (and its sleep) alive.
sleep 0.2
case "$*" in
  *"wifi list"*)
    echo 'no:Home:AA\\:BB\\:CC\\:DD\\:EE\\:01:Infra:6:2437 MHz:72:WPA2:(none):pair_ccmp group_ccmp psk:wlan0'
    echo 'no:Cafe:AA\\:BB\\:CC\\:DD\\:EE\\:03:Infra:1:2412 MHz:30:(none):(none):(none):wlan0'
    ;;
esac
exit 0
`,
);
chmodSync(join(dir, 'nmcli'), 0o755);

interface Seen {
  pid: number;
  via: 'spawn-args' | 'spawn-proc' | 'proc-scan' | 'self-report';
  argv: string;
  env: string;
}

class ChildWatch {
  readonly seen: Seen[] = [];
  private timer: NodeJS.Timeout | undefined;
  private restore: (() => void) | undefined;

  start(): void {
    const proto = ChildProcess.prototype as unknown as { spawn(this: ChildProcess, options: { args?: string[]; envPairs?: string[] }): unknown };
    const original = proto.spawn;
    const record = (pid: number, options: { args?: string[]; envPairs?: string[] }): void => {
      this.seen.push({ pid, via: 'spawn-args', argv: (options.args ?? []).join('\0'), env: (options.envPairs ?? []).join('\0') });
      this.readProc(pid, 'spawn-proc');
    };
    proto.spawn = function (options) {
      const result = original.call(this, options);
      record(this.pid ?? -1, options);
      return result;
    };
    this.restore = () => (proto.spawn = original);
    this.timer = setInterval(() => this.scan(), 3);
  }

  stop(): void {
    clearInterval(this.timer);
    this.restore?.();
  }

  /** Children seen by pid, whichever way. */
  pids(): Set<number> {
    return new Set(this.seen.filter((s) => s.pid > 0).map((s) => s.pid));
  }

  leaks(secret: string): Seen[] {
    return this.seen.filter((s) => s.argv.includes(secret) || s.env.includes(secret));
  }

  private readProc(pid: number, via: Seen['via']): void {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
      // A zombie's cmdline is empty: nothing to read, nothing to record.
      if (argv) this.seen.push({ pid, via, argv, env });
    } catch {
      // gone already
    }
  }

  private scan(): void {
    const parent = new Map<number, number>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        parent.set(Number(name), ppid);
      } catch {
        // gone already
      }
    }
    const mine = (pid: number): boolean => {
      for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 32; p = parent.get(p), hops++) if (p === process.pid) return true;
      return false;
    };
    for (const pid of parent.keys()) if (mine(pid)) this.readProc(pid, 'proc-scan');
  }
}

function selfReports(): Seen[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('self-cmdline-'))
    .map((f) => {
      const pid = Number(f.slice('self-cmdline-'.length));
      return { pid, via: 'self-report' as const, argv: readFileSync(join(dir, f), 'latin1'), env: readFileSync(join(dir, `self-environ-${pid}`), 'latin1') };
    });
}

let bus: PrivateBus;
let nm: FakeNetworkManager;
let backend: NmDbusWifiBackend;
let path: string | undefined;
beforeAll(async () => {
  path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  bus = await startPrivateBus();
  nm = await FakeNetworkManager.start(bus.address);
  backend = new NmDbusWifiBackend(new NodeWifiBackend('wlan0'), new NmDbusJoiner({ iface: 'wlan0', timeoutMs: 10_000, connectBus: () => sessionBus({ busAddress: bus.address }) }));
});
afterAll(async () => {
  process.env.PATH = path;
  nm.stop();
  await bus.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  nm.calls.length = 0;
  nm.scenario = 'activated';
});

describe('Wi-Fi join: the PSK is in no child’s command line or environment', () => {
  it('a whole join (scan through nmcli, join over D-Bus): every child watched, none carries the PSK', async () => {
    const watch = new ChildWatch();
    watch.start();
    try {
      await backend.connect('Home', PSK);
    } finally {
      watch.stop();
    }
    const reports = selfReports();
    const all = [...watch.seen, ...reports];
    // The join did run children (node-wifi's scan), and each way of watching saw them.
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(watch.seen.some((s) => s.via === 'spawn-args' && s.argv.includes('wifi'))).toBe(true);
    expect(watch.seen.some((s) => s.via === 'proc-scan' && s.argv.includes('nmcli'))).toBe(true);
    for (const r of reports) expect(watch.pids().has(r.pid)).toBe(true);
    expect(all.filter((s) => s.argv.includes(PSK) || s.env.includes(PSK))).toEqual([]);
    // The secret did travel: in the settings dict of the D-Bus call, and nowhere else.
    const add = nm.calls.find((c) => c.member === 'AddAndActivateConnection');
    expect(plain(add?.settings)['802-11-wireless-security']?.psk).toBe(PSK);
  });

  it('control: the watch does see a PSK put on a child’s command line or in its environment', async () => {
    const watch = new ChildWatch();
    watch.start();
    try {
      await new Promise<void>((resolve, reject) => execFile('sh', ['-c', 'sleep 0.2', 'sh', PSK], (err) => (err ? reject(new Error(err.message)) : resolve())));
      await new Promise<void>((resolve, reject) => {
        const child = spawn('sleep', ['0.2'], { env: { PATH: process.env.PATH ?? '', WIFI_KEY: PSK } });
        child.once('error', reject).once('exit', () => resolve());
      });
    } finally {
      watch.stop();
    }
    const leaks = watch.leaks(PSK);
    expect(new Set(leaks.map((l) => l.via))).toEqual(new Set(['spawn-args', 'spawn-proc', 'proc-scan']));
    expect(leaks.some((l) => l.argv.includes(PSK))).toBe(true);
    expect(leaks.some((l) => l.env.includes(`WIFI_KEY=${PSK}`))).toBe(true);
  });

  it('a network not in the scan is refused before NetworkManager is asked', async () => {
    await expect(backend.connect('Elsewhere', PSK)).rejects.toMatchObject({ kind: 'not-found', message: '"Elsewhere" not in range (2 networks seen)' });
    expect(nm.calls).toEqual([]);
  });
});
