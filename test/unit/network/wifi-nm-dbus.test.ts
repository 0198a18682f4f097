import { describe, expect, it } from 'vitest';
import { AC_REASON, DEVICE_REASON, failure } from '../../../src/network/wifi-nm-dbus.js';

/** A deactivated join's reasons (device first, the active connection's as fallback) → what the policy acts on. */
describe('NetworkManager failure reasons', () => {
  it.each([
    [DEVICE_REASON.noSecrets, 0, 'auth', 'wrong password for "Home" (the access point refused the key)'],
    [DEVICE_REASON.supplicantDisconnect, 0, 'auth', 'wrong password for "Home" (the access point refused the key)'],
    [DEVICE_REASON.ssidNotFound, 0, 'not-found', 'no network "Home" found'],
    [DEVICE_REASON.supplicantTimeout, 0, 'failed', 'joining "Home" timed out (the access point did not complete the handshake)'],
    [DEVICE_REASON.ipConfigUnavailable, 0, 'failed', 'joined "Home" but got no address (DHCP)'],
    [null, AC_REASON.noSecrets, 'auth', 'wrong password for "Home"'],
    [null, AC_REASON.loginFailed, 'auth', 'wrong password for "Home"'],
    [null, AC_REASON.connectTimeout, 'failed', 'joining "Home" timed out'],
    [null, 3, 'failed', 'joining "Home" failed (NetworkManager reason 3)'],
    [42, 3, 'failed', 'joining "Home" failed (NetworkManager reason 3, device reason 42)'],
  ] as const)('device %s, active %s → %s', (device, ac, kind, message) => {
    expect(failure('Home', device, ac)).toMatchObject({ name: 'WifiError', kind, message });
  });
});
