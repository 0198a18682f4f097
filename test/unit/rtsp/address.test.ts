import { describe, expect, it } from 'vitest';
import type { NetworkInterfaceInfo } from 'node:os';
import { chooseBindAddress } from '../../../src/rtsp/address.js';
import type { NetworkSummary } from '../../../src/state/store.js';

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` });
const ifaces = { lo: [v4('127.0.0.1', true)], eth0: [v4('192.168.1.20')], wlan0: [v4('10.0.0.7')] };
const wired = { iface: 'eth0', carrier: true, hasRoute: true, address: '192.168.1.20' };
const wifi = { iface: 'wlan0', ssid: 'home', signal: 70, connected: true, saved: true };

describe('where the RTSP server listens', () => {
  it('the active link\'s address by default, wired or Wi-Fi', () => {
    const net = (active: 'wired' | 'wifi' | null): NetworkSummary => ({ phase: 'online', active, wired, wifi });
    expect(chooseBindAddress('', net('wired'), ifaces)).toEqual({ address: '192.168.1.20', source: 'link', wildcard: false });
    expect(chooseBindAddress('', net('wifi'), ifaces)).toEqual({ address: '10.0.0.7', source: 'link', wildcard: false });
  });

  it('no link, no address: no server — never a wildcard by accident', () => {
    expect(chooseBindAddress('', { phase: 'unknown' }, ifaces)).toMatchObject({ address: undefined, reason: 'no active network link' });
    expect(chooseBindAddress('', { phase: 'online', active: 'wifi', wifi }, { wlan0: [] })).toMatchObject({ address: undefined, reason: 'wlan0 has no IPv4 address' });
    expect(chooseBindAddress('', { phase: 'online', active: 'wired', wired: { ...wired, address: '0.0.0.0' } }, {})).toMatchObject({ address: undefined });
  });

  it('the owner\'s bindAddress wins; a wildcard only when set, and flagged', () => {
    expect(chooseBindAddress('127.0.0.1', { phase: 'unknown' }, ifaces)).toEqual({ address: '127.0.0.1', source: 'config', wildcard: false });
    expect(chooseBindAddress('0.0.0.0', { phase: 'unknown' }, ifaces)).toEqual({ address: '0.0.0.0', source: 'config', wildcard: true });
    expect(chooseBindAddress('::', { phase: 'unknown' }, ifaces)).toMatchObject({ wildcard: true });
    expect(chooseBindAddress('eth0', { phase: 'unknown' }, ifaces)).toMatchObject({ address: undefined });
  });
});
