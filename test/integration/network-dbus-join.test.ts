import { sessionBus } from '@jellybrick/dbus-next';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NmDbusJoiner } from '../../src/network/wifi-nm-dbus.js';
import { waitUntil } from '../harness/wait.js';
import { FakeNetworkManager, plain, startPrivateBus, type PrivateBus } from './network-dbus-peer.js';

/**
 * The D-Bus join against a scripted NetworkManager on a private bus started here: the secret
 * arrives in the settings dict, the activation states are followed to the precise outcome, and
 * no connection of the backend stays on the bus after a join.
 */
const PSK = 'Tr0ub4dor&3-dbus';
let bus: PrivateBus;
let nm: FakeNetworkManager;
const joiner = (timeoutMs = 5_000, iface = 'wlan0'): NmDbusJoiner => new NmDbusJoiner({ iface, timeoutMs, connectBus: () => sessionBus({ busAddress: bus.address }) });

/** After a join only the fake NetworkManager's own connection is on the bus. */
async function onlyNmLeft(): Promise<void> {
  await waitUntil(async () => (await bus.names()).filter((n) => n.startsWith(':')).length === 1, 'the backend to leave the bus', 2_000);
  expect(await bus.names()).toContain('org.freedesktop.NetworkManager');
}

beforeAll(async () => {
  bus = await startPrivateBus();
  nm = await FakeNetworkManager.start(bus.address);
});
afterAll(async () => {
  nm.stop();
  await bus.stop();
  // Nothing left running: the daemon this file started is gone.
  expect(bus.proc.exitCode !== null || bus.proc.signalCode !== null).toBe(true);
  expect(() => process.kill(bus.proc.pid ?? -1, 0)).toThrow();
});
beforeEach(() => {
  nm.calls.length = 0;
  nm.scenario = 'activated';
});

describe('Wi-Fi join over NetworkManager D-Bus (private bus, scripted peer)', () => {
  it('adds and activates a profile with the PSK in the settings dict; activated → joined', async () => {
    await joiner().join('Home', PSK);
    const add = nm.calls.find((c) => c.member === 'AddAndActivateConnection');
    expect(add).toBeDefined();
    expect(add?.device).toBe('/org/freedesktop/NetworkManager/Devices/3');
    expect(plain(add?.settings)).toMatchObject({
      connection: { id: 'Home', type: '802-11-wireless', 'interface-name': 'wlan0' },
      '802-11-wireless': { ssid: 'Home', mode: 'infrastructure' },
      '802-11-wireless-security': { 'key-mgmt': 'wpa-psk', psk: PSK },
    });
    await onlyNmLeft();
  });

  it('a second join of the same SSID updates that profile (new PSK) and activates it: no duplicate', async () => {
    const before = nm.profiles.size;
    await joiner().join('Home', `${PSK}-2`);
    expect(nm.profiles.size).toBe(before);
    expect(nm.calls.map((c) => c.member)).toEqual(['GetDeviceByIpIface', 'Update', 'ActivateConnection']);
    expect(plain(nm.calls[1]?.settings)['802-11-wireless-security']?.psk).toBe(`${PSK}-2`);
    await onlyNmLeft();
  });

  it('failed with no-secrets → wrong password (kind auth), and the PSK is in no message', async () => {
    nm.scenario = 'wrong-password';
    const err = await joiner().join('Cafe', PSK).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'WifiError', kind: 'auth', message: 'wrong password for "Cafe" (the access point refused the key)' });
    expect(String((err as Error).message)).not.toContain(PSK);
    await onlyNmLeft();
  });

  it('failed with ssid-not-found → no such network (kind not-found)', async () => {
    nm.scenario = 'no-network';
    await expect(joiner().join('Gone', PSK)).rejects.toMatchObject({ kind: 'not-found', message: 'no network "Gone" found' });
    await onlyNmLeft();
  });

  it('no outcome within the deadline → timeout (kind failed), and the pending activation is deactivated', async () => {
    nm.scenario = 'silent';
    const t0 = Date.now();
    await expect(joiner(400).join('Slow', PSK)).rejects.toMatchObject({ kind: 'failed', message: 'joining "Slow" timed out after 0.4 s (no answer from the access point)' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    const add = nm.calls.find((c) => c.member === 'AddAndActivateConnection');
    const deact = nm.calls.find((c) => c.member === 'DeactivateConnection');
    expect(deact?.active).toMatch(/^\/org\/freedesktop\/NetworkManager\/ActiveConnection\/\d+$/);
    expect(add).toBeDefined();
    await onlyNmLeft();
  });

  it('an interface NetworkManager does not know → precise failure, nothing activated', async () => {
    await expect(joiner(5_000, 'wlan9').join('Home', PSK)).rejects.toMatchObject({ kind: 'failed', message: 'no Wi-Fi interface: No device found for the requested iface.' });
    expect(nm.calls.map((c) => c.member)).toEqual(['GetDeviceByIpIface']);
    await onlyNmLeft();
  });

  it('NetworkManager not on the bus → "NetworkManager is not running"', async () => {
    const other = await startPrivateBus();
    try {
      const lone = new NmDbusJoiner({ iface: 'wlan0', timeoutMs: 2_000, connectBus: () => sessionBus({ busAddress: other.address }) });
      await expect(lone.join('Home', PSK)).rejects.toMatchObject({ kind: 'failed', message: 'NetworkManager is not running' });
      await waitUntil(async () => (await other.names()).length === 0, 'the backend to leave the second bus', 2_000);
    } finally {
      await other.stop();
    }
  });
});
