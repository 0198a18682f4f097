import { describe, expect, it } from 'vitest';
import { classifyAddress, parseV6, resolveHost } from '../../../src/live/address.js';

describe('address classes for the local-target rule', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['203.0.113.9', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.15.255.255', 'public'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'public'],
    ['192.168.1.1', 'private'],
    ['100.63.255.255', 'public'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:4860:4860::8888', 'public'],
    ['2a00:1450::1', 'public'],
  ])('%s is %s', (a, cls) => {
    expect(classifyAddress(a)).toBe(cls);
  });

  it('is not fooled by forms that are not addresses', () => {
    for (const a of ['2130706433', '0x7f.1', '127.1', 'localhost', '1.2.3.4.5', '']) expect(classifyAddress(a)).toBeUndefined();
  });

  it('expands IPv6 in every notation', () => {
    expect(parseV6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseV6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseV6('1::8')).toEqual([1, 0, 0, 0, 0, 0, 0, 8]);
    expect(parseV6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    expect(parseV6('1:2:3:4:5:6:1.2.3.4')).toEqual([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
    expect(parseV6('64:ff9b::1.2.3.4')).toEqual([0x64, 0xff9b, 0, 0, 0, 0, 0x0102, 0x0304]);
    expect(parseV6('1.2.3.4')).toBeUndefined();
  });

  it('resolves names with the system resolver (all addresses) and literals as themselves', async () => {
    expect(await resolveHost('[::1]')).toEqual(['::1']);
    expect(await resolveHost('203.0.113.1')).toEqual(['203.0.113.1']);
    // getaddrinfo reads the decimal form as an address, as it does for ffmpeg.
    expect(await resolveHost('2130706433')).toEqual(['127.0.0.1']);
    expect((await resolveHost('localhost')).every((a) => classifyAddress(a) === 'loopback')).toBe(true);
    await expect(resolveHost('nowhere.invalid')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // A resolver that never answers is given up on.
    await expect(resolveHost('slow.example', () => new Promise(() => undefined), 50)).rejects.toMatchObject({ code: 'ETIMEOUT' });
  });
});
