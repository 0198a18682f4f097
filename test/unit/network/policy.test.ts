import { describe, expect, it } from 'vitest';
import { decide, type PolicyInput } from '../../../src/network/policy.js';

const T = 1_000_000;
function input(over: Partial<PolicyInput> = {}): PolicyInput {
  return {
    now: T,
    preferWired: true,
    wiredIface: 'eth0',
    wifiIface: 'wlan0',
    wired: { present: true, carrier: true, hasRoute: true },
    wiredDemoted: null,
    wifi: { connected: false, ssid: null },
    saved: null,
    wifiFailure: null,
    check: null,
    canCheck: true,
    graceMs: 30_000,
    cloudConnected: undefined,
    routePreference: null,
    ...over,
  };
}
const types = (d: ReturnType<typeof decide>): string[] => d.actions.map((a) => a.type);

describe('network policy: wired over Wi-Fi', () => {
  it('uses wired with carrier and route, prefers its route and checks the cloud before calling it online', () => {
    const d = decide(input());
    expect(d.active).toBe('wired');
    expect(d.phase).toBe('connecting');
    expect(d.actions).toEqual([{ type: 'prefer', uplink: 'wired' }, { type: 'check', via: 'wired' }]);
    expect(d.provisioning).toBe(false);
  });

  it('is online once a check through the active uplink passed, and does not re-apply the route preference', () => {
    const d = decide(input({ routePreference: 'wired', check: { via: 'wired', ok: true, target: 'b:1883' } }));
    expect(d).toMatchObject({ active: 'wired', phase: 'online', actions: [] });
  });

  it('ignores a check made through the other uplink', () => {
    const d = decide(input({ routePreference: 'wired', check: { via: 'wifi', ok: true, target: 'b:1883' } }));
    expect(d.phase).toBe('connecting');
    expect(d.actions).toEqual([{ type: 'check', via: 'wired' }]);
  });

  it('takes a connected cloud link as proof of connectivity', () => {
    expect(decide(input({ routePreference: 'wired', cloudConnected: true })).phase).toBe('online');
  });

  it('with no cloud configured, a usable link is online (nothing to check)', () => {
    const d = decide(input({ canCheck: false, routePreference: 'wired' }));
    expect(d).toMatchObject({ phase: 'online', reason: 'no cloud configured; eth0 is up', actions: [] });
  });

  it('keeps saved Wi-Fi joined as a hot standby while wired is active', () => {
    const d = decide(input({ saved: { ssid: 'Home' }, routePreference: 'wired', check: { via: 'wired', ok: true, target: 'b' } }));
    expect(d.active).toBe('wired');
    expect(d.actions).toEqual([{ type: 'join-wifi', ssid: 'Home' }]);
  });

  it('falls back to Wi-Fi when the cable is pulled, and back to wired when it returns', () => {
    const onWifi = decide(
      input({ wired: { present: true, carrier: false, hasRoute: false }, wifi: { connected: true, ssid: 'Home' }, saved: { ssid: 'Home' }, routePreference: 'wired' }),
    );
    expect(onWifi.active).toBe('wifi');
    expect(onWifi.actions).toEqual([{ type: 'prefer', uplink: 'wifi' }, { type: 'check', via: 'wifi' }]);
    const back = decide(input({ wifi: { connected: true, ssid: 'Home' }, saved: { ssid: 'Home' }, routePreference: 'wifi', check: { via: 'wifi', ok: true, target: 'b' } }));
    expect(back.active).toBe('wired');
    expect(back.actions[0]).toEqual({ type: 'prefer', uplink: 'wired' });
    expect(back.phase).toBe('connecting');
  });

  it('with preferWired off, a joined Wi-Fi wins over wired', () => {
    const d = decide(input({ preferWired: false, wifi: { connected: true, ssid: 'Home' }, saved: { ssid: 'Home' } }));
    expect(d.active).toBe('wifi');
  });

  it('demotes wired when its check fails and Wi-Fi is saved; not when there is nothing to fall back to', () => {
    const failing = { via: 'wired' as const, ok: false, target: 'b:1883', error: 'ECONNREFUSED', failingSince: T - 30_000 };
    const withWifi = decide(input({ saved: { ssid: 'Home' }, wifi: { connected: true, ssid: 'Home' }, routePreference: 'wired', check: failing }));
    expect(withWifi.phase).toBe('exception');
    expect(withWifi.reason).toBe('eth0 is up but b:1883 is unreachable: ECONNREFUSED');
    expect(withWifi.actions).toContainEqual({ type: 'demote-wired', reason: withWifi.reason });
    const alone = decide(input({ routePreference: 'wired', check: failing }));
    expect(alone.phase).toBe('exception');
    expect(types(alone)).not.toContain('demote-wired');
  });

  it('a failing check is "connecting" for the offline grace, then an exception; wired is demoted at once', () => {
    const check = { via: 'wired' as const, ok: false, target: 'b:1883', error: 'ECONNREFUSED', failingSince: T - 29_999 };
    const early = decide(input({ saved: { ssid: 'Home' }, routePreference: 'wired', check }));
    expect(early.phase).toBe('connecting');
    expect(early.reason).toBe('eth0 is up but b:1883 is unreachable: ECONNREFUSED; retrying');
    expect(types(early)).toContain('demote-wired');
    expect(decide(input({ saved: { ssid: 'Home' }, routePreference: 'wired', check, now: T + 1 })).phase).toBe('exception');
  });

  it('a demoted wired link is still used when Wi-Fi cannot take over, and not demoted again', () => {
    const demoted = { until: T + 30_000, reason: 'eth0 is up but b is unreachable: ECONNREFUSED' };
    const check = { via: 'wired' as const, ok: false, target: 'b', error: 'ECONNREFUSED', failingSince: T - 40_000 };
    const d = decide(input({ saved: { ssid: 'Home' }, wiredDemoted: demoted, routePreference: 'wired', check }));
    expect(d.active).toBe('wired');
    expect(d.phase).toBe('exception');
    expect(d.actions).toEqual([{ type: 'join-wifi', ssid: 'Home' }]);
  });

  it('while wired is demoted, Wi-Fi carries the traffic; after the demotion ends wired is tried again', () => {
    const demoted = { until: T + 30_000, reason: 'eth0 is up but b is unreachable: ECONNREFUSED' };
    const base = { saved: { ssid: 'Home' }, wifi: { connected: true, ssid: 'Home' }, routePreference: 'wired' as const };
    expect(decide(input({ ...base, wiredDemoted: demoted })).active).toBe('wifi');
    expect(decide(input({ ...base, wiredDemoted: demoted, now: T + 30_000 })).active).toBe('wired');
  });
});

describe('network policy: offline, exceptions and provisioning', () => {
  it('no network and no saved Wi-Fi → provisioning with the scanner on', () => {
    const d = decide(input({ wired: { present: true, carrier: false, hasRoute: false } }));
    expect(d).toMatchObject({ active: null, phase: 'provisioning', provisioning: true, reason: 'no network and no saved Wi-Fi', actions: [] });
  });

  it('cable in but no route → network exception naming the cause; the scanner still runs without saved Wi-Fi', () => {
    const d = decide(input({ wired: { present: true, carrier: true, hasRoute: false } }));
    expect(d.phase).toBe('exception');
    expect(d.reason).toBe('cable in on eth0 but no network (no default route); no Wi-Fi saved');
    expect(d.provisioning).toBe(true);
  });

  it('saved Wi-Fi, no cable: joins, and reports "connecting" for the first attempt', () => {
    const d = decide(input({ wired: { present: true, carrier: false, hasRoute: false }, saved: { ssid: 'Home' } }));
    expect(d).toMatchObject({ phase: 'connecting', reason: 'joining Wi-Fi "Home"', provisioning: false, actions: [{ type: 'join-wifi', ssid: 'Home' }] });
  });

  it('saved Wi-Fi not reachable → exception with the reason; no retry before the backoff ends', () => {
    const failure = { ssid: 'Home', kind: 'not-found' as const, message: '"Home" not in range (0 networks seen)', retryAt: T + 5_000 };
    const d = decide(input({ wired: { present: true, carrier: false, hasRoute: false }, saved: { ssid: 'Home' }, wifiFailure: failure }));
    expect(d.phase).toBe('exception');
    expect(d.reason).toBe('saved Wi-Fi "Home" not reachable: "Home" not in range (0 networks seen)');
    expect(d.provisioning).toBe(false);
    expect(d.actions).toEqual([]);
    expect(decide(input({ wired: { present: true, carrier: false, hasRoute: false }, saved: { ssid: 'Home' }, wifiFailure: failure, now: T + 5_000 })).actions).toEqual([
      { type: 'join-wifi', ssid: 'Home' },
    ]);
  });

  it('cable in without route and saved Wi-Fi failing: both causes in the reason', () => {
    const failure = { ssid: 'Home', kind: 'failed' as const, message: 'timeout', retryAt: T + 5_000 };
    const d = decide(input({ wired: { present: true, carrier: true, hasRoute: false }, saved: { ssid: 'Home' }, wifiFailure: failure }));
    expect(d.reason).toBe('cable in on eth0 but no network (no default route); saved Wi-Fi "Home" not reachable: timeout');
  });

  it('a password the network rejects → back to provisioning, with the reason', () => {
    const failure = { ssid: 'Home', kind: 'auth' as const, message: 'Secrets were required', retryAt: T + 5_000 };
    const d = decide(input({ wired: { present: true, carrier: false, hasRoute: false }, saved: { ssid: 'Home' }, wifiFailure: failure }));
    expect(d.phase).toBe('provisioning');
    expect(d.provisioning).toBe(true);
    expect(d.reason).toMatch(/^Wi-Fi "Home" rejected the password: Secrets were required/);
  });

  it('a failure recorded for an older network does not hold back the newly saved one', () => {
    const failure = { ssid: 'Old', kind: 'auth' as const, message: 'x', retryAt: T + 60_000 };
    const d = decide(input({ wired: { present: true, carrier: false, hasRoute: false }, saved: { ssid: 'New' }, wifiFailure: failure }));
    expect(d.phase).toBe('connecting');
    expect(d.actions).toEqual([{ type: 'join-wifi', ssid: 'New' }]);
  });

  it('Wi-Fi up but the cloud unreachable through it → exception naming the interface', () => {
    const d = decide(
      input({ wired: { present: false, carrier: false, hasRoute: false }, wifi: { connected: true, ssid: 'Home' }, saved: { ssid: 'Home' }, routePreference: 'wifi', check: { via: 'wifi', ok: false, target: 'b:1883', error: 'ETIMEDOUT', failingSince: T - 31_000 } }),
    );
    expect(d.phase).toBe('exception');
    expect(d.reason).toBe('wlan0 is up but b:1883 is unreachable: ETIMEDOUT');
  });
});
