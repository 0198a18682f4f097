import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogging } from '../../../src/core/log.js';
import { systemClock } from '../../../src/core/clock.js';
import { hexToIpv4, LinuxLinkBackend, onceCommand, parseDefaultRoutes } from '../../../src/network/link-linux.js';
import { initialState, StateStore } from '../../../src/state/store.js';
import { OnceRunner } from '../../../src/supervisor/runner.js';

const runner = () => new OnceRunner({ clock: systemClock, log: silentLogging().forComponent('network'), state: new StateStore(initialState(1, 'x', 0)) });

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
wlan0\t00000000\t0202A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
eth1\t00000000\t0103A8C0\t0002\t0\t0\t100\t00000000\t0\t0\t0
`;

describe('Linux link backend', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('decodes /proc/net/route: lowest-metric default route per interface, down routes ignored', () => {
    expect(hexToIpv4('0101A8C0')).toBe('192.168.1.1');
    const r = parseDefaultRoutes(ROUTE);
    expect(r.get('eth0')).toEqual({ gateway: '192.168.1.1', metric: 100 });
    expect(r.get('wlan0')).toEqual({ gateway: '192.168.2.2', metric: 50 });
    expect(r.has('eth1')).toBe(false);
  });

  it('reads carrier, operstate and route from sysfs/procfs files; a missing interface is "absent", not an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-link-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'net/eth0'), { recursive: true });
    mkdirSync(join(dir, 'net/wlan0'), { recursive: true });
    writeFileSync(join(dir, 'net/eth0/operstate'), 'up\n');
    writeFileSync(join(dir, 'net/eth0/carrier'), '1\n');
    writeFileSync(join(dir, 'net/wlan0/operstate'), 'down\n'); // no carrier file readable: admin down
    writeFileSync(join(dir, 'route'), ROUTE);
    const calls: string[][] = [];
    const b = new LinuxLinkBackend({ sysClassNet: join(dir, 'net'), procNetRoute: join(dir, 'route'), run: async (c, a) => void calls.push([c, ...a]) });
    expect(await b.read('eth0')).toMatchObject({ present: true, carrier: true, operstate: 'up', defaultRoute: { gateway: '192.168.1.1', metric: 100 } });
    expect(await b.read('wlan0')).toMatchObject({ present: true, carrier: false, operstate: 'down' });
    expect(await b.read('usb0')).toEqual({ iface: 'usb0', present: false, carrier: false, operstate: 'absent', address: null, defaultRoute: null });

    await b.setDefaultMetric('eth0', 100); // already so: nothing to run
    await b.setDefaultMetric('eth1', 100); // no usable default route: nothing to run
    await b.setDefaultMetric('eth0', 600);
    expect(calls).toEqual([
      ['ip', '-4', 'route', 'replace', 'default', 'via', '192.168.1.1', 'dev', 'eth0', 'metric', '600'],
      ['ip', '-4', 'route', 'del', 'default', 'via', '192.168.1.1', 'dev', 'eth0', 'metric', '100'],
    ]);
  });

  it('reads this machine\'s real loopback from /sys/class/net', async () => {
    const lo = await new LinuxLinkBackend({ run: onceCommand(runner()) }).read('lo');
    expect(lo.present).toBe(true);
    expect(lo.defaultRoute).toBeNull();
  });

  it('runs its commands as one-shot children: a failure quotes the command and its stderr, or why it could not run', async () => {
    const run = onceCommand(runner());
    await expect(run('sh', ['-c', 'exit 0'])).resolves.toBeUndefined();
    await expect(run('sh', ['-c', 'echo "RTNETLINK answers: File exists" >&2; exit 2'])).rejects.toThrow(
      'sh -c echo "RTNETLINK answers: File exists" >&2; exit 2: RTNETLINK answers: File exists',
    );
    await expect(run('sh', ['-c', 'exit 2'])).rejects.toThrow('sh -c exit 2: sh exited with code 2');
    await expect(run('camd-no-such-ip', ['-4', 'route'])).rejects.toThrow('camd-no-such-ip -4 route: cannot run camd-no-such-ip: no such program (ENOENT)');
  });
});
