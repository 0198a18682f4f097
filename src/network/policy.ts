import type { NetworkSummary } from '../state/store.js';
import type { Uplink, WifiErrorKind } from './types.js';

/**
 * The network policy as a pure function, in the manner of balena-supervisor's reconciliation:
 * what is true now (links, Wi-Fi, saved credentials, the last connectivity check) in, the
 * summary to publish and the steps to take out, as plain data. The controller executes the
 * steps one at a time and feeds their outcome back in on the next round.
 *
 * Rules (the product's "wired has priority"):
 *  - Wired is usable with carrier + a default route, unless the last connectivity check through
 *    it failed and Wi-Fi could take over (then it is demoted for a backoff period; a cable
 *    re-plug ends the demotion at once).
 *  - The usable uplink wins the route lookup by metric (`prefer`). With preferWired off, a
 *    joined Wi-Fi wins over wired.
 *  - Saved Wi-Fi is joined even while wired is up: a hot standby, so losing the cable is a route
 *    switch, not a scan and join. Failed joins retry on a backoff (`wifiFailure.retryAt`).
 *  - Phase: `online` needs an active uplink and proof of reaching the cloud (a passing check, or
 *    the cloud link connected; with no cloud configured, the usable link alone); a failing check
 *    is `connecting` for the offline grace, then `exception`; `provisioning` when nothing is saved and no cable is in, or the
 *    saved network rejected the password; `exception` for every other way of being offline,
 *    with the precise reason; `connecting` while a first join or check is under way.
 *  - The QR provisioning scanner runs only in `provisioning`, or offline with nothing saved: a
 *    camera whose known Wi-Fi merely dropped must not accept new credentials from whoever holds
 *    a QR code in front of it.
 */
export interface PolicyInput {
  now: number;
  preferWired: boolean;
  wiredIface: string;
  wifiIface: string;
  wired: { present: boolean; carrier: boolean; hasRoute: boolean };
  /** Set after a failed check through wired; ignored once `until` has passed. */
  wiredDemoted: { until: number; reason: string } | null;
  wifi: { connected: boolean; ssid: string | null };
  saved: { ssid: string } | null;
  /** The last failed attempt to join the saved network (cleared on success or new credentials). */
  wifiFailure: { ssid: string; kind: WifiErrorKind; message: string; retryAt: number } | null;
  /**
   * False when no cloud is configured (the factory placeholder under the reserved `.invalid`
   * TLD): nothing can be checked, so a usable link is all "online" can mean.
   */
  canCheck: boolean;
  /** The latest check; only a result for the current active uplink counts. */
  check: { via: Uplink; ok: boolean; target: string; error?: string; failingSince?: number } | null;
  /** A failing check turns into an exception only after this long (config network.offlineGraceSeconds). */
  graceMs: number;
  cloudConnected: boolean | undefined;
  /** The uplink whose route metric the executor last made the lowest (null: never set). */
  routePreference: Uplink | null;
}

export type NetworkAction =
  | { type: 'prefer'; uplink: Uplink }
  | { type: 'join-wifi'; ssid: string }
  | { type: 'demote-wired'; reason: string }
  | { type: 'check'; via: Uplink };

export interface Decision {
  active: Uplink | null;
  phase: NetworkSummary['phase'];
  reason?: string;
  /** The QR scanner should run. */
  provisioning: boolean;
  actions: NetworkAction[];
}

export function decide(input: PolicyInput): Decision {
  const { wired, wifi, saved, wifiFailure, now } = input;
  const wiredReady = wired.carrier && wired.hasRoute;
  const demoted = input.wiredDemoted && now < input.wiredDemoted.until ? input.wiredDemoted : null;
  const wiredUsable = wiredReady && !demoted;
  const wifiUsable = wifi.connected;
  // A demoted wired link still beats having no uplink at all (the cloud may be what is down).
  const active: Uplink | null = input.preferWired
    ? wiredUsable ? 'wired' : wifiUsable ? 'wifi' : wiredReady ? 'wired' : null
    : wifiUsable ? 'wifi' : wiredReady ? 'wired' : null;

  const actions: NetworkAction[] = [];
  if (active && input.routePreference !== active) actions.push({ type: 'prefer', uplink: active });
  const joinedSaved = saved !== null && wifi.connected && wifi.ssid === saved.ssid;
  const failureApplies = saved !== null && wifiFailure !== null && wifiFailure.ssid === saved.ssid;
  if (saved && !joinedSaved && (!failureApplies || now >= wifiFailure.retryAt)) actions.push({ type: 'join-wifi', ssid: saved.ssid });

  const authRejected = failureApplies && wifiFailure.kind === 'auth';
  const base = { active, actions };

  if (active === null) {
    const wiredWhy = wiredProblem(input);
    if (authRejected) {
      return { ...base, phase: 'provisioning', provisioning: true, reason: `Wi-Fi "${saved.ssid}" rejected the password: ${wifiFailure.message}; show a new Wi-Fi QR code or send network.provision` };
    }
    if (!saved) {
      // A cable is in: the owner meant wired, so "check the cable/router" is the useful signal;
      // the scanner still runs so Wi-Fi can be handed over instead.
      if (wired.carrier) return { ...base, phase: 'exception', provisioning: true, reason: `${wiredWhy}; no Wi-Fi saved` };
      return { ...base, phase: 'provisioning', provisioning: true, reason: 'no network and no saved Wi-Fi' };
    }
    const wifiWhy = failureApplies ? `saved Wi-Fi "${saved.ssid}" not reachable: ${wifiFailure.message}` : `joining Wi-Fi "${saved.ssid}"`;
    const reason = wired.carrier ? `${wiredWhy}; ${wifiWhy}` : wifiWhy;
    return { ...base, phase: failureApplies || wired.carrier ? 'exception' : 'connecting', provisioning: false, reason };
  }

  const ifaceName = active === 'wired' ? input.wiredIface : input.wifiIface;
  const check = input.check && input.check.via === active ? input.check : null;
  if (input.cloudConnected === true || check?.ok) return { ...base, phase: 'online', provisioning: false };
  if (!input.canCheck) return { ...base, phase: 'online', provisioning: false, reason: `no cloud configured; ${ifaceName} is up` };
  if (!check) {
    actions.push({ type: 'check', via: active });
    return { ...base, phase: 'connecting', provisioning: false, reason: `checking the cloud via ${ifaceName}` };
  }
  const unreachable = `${ifaceName} is up but ${check.target} is unreachable: ${check.error ?? 'no answer'}`;
  // Only worth demoting wired when Wi-Fi could carry the traffic instead; that is done at once,
  // the fallback is cheap with Wi-Fi on standby.
  if (active === 'wired' && saved && !demoted) actions.push({ type: 'demote-wired', reason: unreachable });
  // Reachability is transient in a way carrier and routes are not: a broker blip shorter than
  // the grace is not worth a red LED.
  const since = check.failingSince ?? now;
  if (now - since < input.graceMs) return { ...base, phase: 'connecting', provisioning: false, reason: `${unreachable}; retrying` };
  return { ...base, phase: 'exception', provisioning: false, reason: unreachable };
}

/** Why wired is not carrying traffic; only asked when it lacks a carrier or a route. */
function wiredProblem(input: PolicyInput): string {
  const { wired, wiredIface } = input;
  if (!wired.present) return `${wiredIface} not present`;
  if (!wired.carrier) return `no cable on ${wiredIface}`;
  return `cable in on ${wiredIface} but no network (no default route)`;
}
