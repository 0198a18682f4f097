import { describe, expect, it } from 'vitest';
import { formatWifiQr, parseWifiQr } from '../../../src/network/wifi-qr.js';
import { classifyWifiMessage } from '../../../src/network/wifi-nmcli.js';

describe('Wi-Fi QR payload', () => {
  it('reads the standard Wi-Fi QR code with our B field, in any field order', () => {
    expect(parseWifiQr('WIFI:T:WPA;S:Home;P:secret123;B:tok-12345678;;')).toEqual({ ok: true, value: { ssid: 'Home', psk: 'secret123', bindingToken: 'tok-12345678' } });
    expect(parseWifiQr('WIFI:B:tok-12345678;H:false;P:secret123;S:Home;T:WPA2;;')).toEqual({ ok: true, value: { ssid: 'Home', psk: 'secret123', bindingToken: 'tok-12345678' } });
  });

  it('round-trips escaped special characters', () => {
    const v = { ssid: 'My;Net:"x"', psk: 'p\\a;s,s:w"rd', bindingToken: 'b;t:12345678' };
    const text = formatWifiQr(v);
    expect(text).toBe('WIFI:T:WPA;S:My\\;Net\\:\\"x\\";P:p\\\\a\\;s\\,s\\:w\\"rd;B:b\\;t\\:12345678;;');
    expect(parseWifiQr(text)).toEqual({ ok: true, value: v });
  });

  it.each([
    ['http://example.com', 'not a Wi-Fi QR code (no WIFI: prefix)'],
    ['WIFI:T:nopass;S:Cafe;;', 'open networks are not supported'],
    ['WIFI:S:Cafe;P:secret123;B:tok-12345678;;', 'open networks are not supported'],
    ['WIFI:T:WEP;S:Old;P:12345678;B:tok-12345678;;', 'security "WEP" not supported (WPA/WPA2/WPA3 only)'],
    ['WIFI:T:WPA;S:Home;P:short;B:tok-12345678;;', 'passphrase must be 8..63 characters'],
    ['WIFI:T:WPA;S:Home;P:secret123;;', 'binding token (B) must be 8..256 characters'],
    ['WIFI:T:WPA;S:;P:secret123;B:tok-12345678;;', 'SSID must be 1..32 bytes'],
    [`WIFI:T:WPA;S:${'é'.repeat(17)};P:secret123;B:tok-12345678;;`, 'SSID must be 1..32 bytes'],
    ['WIFI:T:WPA;S:Home;P:secret123;B:tok-12345678', 'unterminated field (missing ";;")'],
    ['WIFI:T:WPA;S:Home;S:Other;P:secret123;B:tok-12345678;;', 'field S given twice'],
  ])('refuses %s', (text, error) => {
    expect(parseWifiQr(text)).toEqual({ ok: false, error });
  });
});

describe('nmcli error wording', () => {
  it.each([
    ['Error: Connection activation failed: (7) Secrets were required, but not provided.', 'auth'],
    ['Error: No network with SSID \'Home\' found.', 'not-found'],
    ['Error: Connection activation failed: IP configuration could not be reserved', 'failed'],
  ])('%s → %s', (msg, kind) => expect(classifyWifiMessage(msg)).toBe(kind));
});
