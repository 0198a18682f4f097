import type { EventEmitter } from 'node:events';
import { Message, MessageType, systemBus, Variant, type MessageBus } from '@jellybrick/dbus-next';
import { WifiError, type WifiBackend, type WifiConnection, type WifiNetwork } from './types.js';
import type { NodeWifiBackend } from './wifi-nmcli.js';

/**
 * Joining a Wi-Fi network through NetworkManager's D-Bus API, so the passphrase never reaches a
 * command line or a child's environment: it travels in the settings dict of one D-Bus message
 * over the system bus socket to NetworkManager (root), which keeps it in its 0600 profile as
 * `nmcli` would. No child process and no file holds it on the way. (`nmcli … passwd-file` would
 * still put it in a file for the length of the call, and a child would run.)
 *
 * Scanning, status, disconnect and forget stay with node-wifi (the design card's library): none of
 * them carries a secret.
 *
 * The join: GetDeviceByIpIface → the profile named after the SSID is updated and activated, or a
 * new one added and activated → follow the ActiveConnection's StateChanged until `activated`
 * (ok) or `deactivated` (failed, with the reason NetworkManager gives; the device's failure
 * reason is the precise one: no secrets = wrong password, SSID not found = no such network).
 * Signals are subscribed with a match rule *before* the activation call, so a fast failure
 * cannot slip past between the call's reply and the subscription.
 */

const NM = 'org.freedesktop.NetworkManager';
const NM_PATH = '/org/freedesktop/NetworkManager';
const SETTINGS_PATH = '/org/freedesktop/NetworkManager/Settings';
const SETTINGS_IFACE = 'org.freedesktop.NetworkManager.Settings';
const CONNECTION_IFACE = 'org.freedesktop.NetworkManager.Settings.Connection';
const ACTIVE_IFACE = 'org.freedesktop.NetworkManager.Connection.Active';
const DEVICE_IFACE = 'org.freedesktop.NetworkManager.Device';

/** NMActiveConnectionState */
export const AC_STATE = { unknown: 0, activating: 1, activated: 2, deactivating: 3, deactivated: 4 } as const;
/** NMDeviceState.FAILED */
export const DEVICE_FAILED = 120;

/** NMDeviceStateReason values that say what went wrong with a Wi-Fi join. */
export const DEVICE_REASON = {
  noSecrets: 7,
  supplicantDisconnect: 8,
  supplicantConfigFailed: 9,
  supplicantFailed: 10,
  supplicantTimeout: 11,
  ipConfigUnavailable: 5,
  ssidNotFound: 53,
} as const;

/** NMActiveConnectionStateReason values of a failed activation. */
export const AC_REASON = { connectTimeout: 6, noSecrets: 9, loginFailed: 10 } as const;

type Settings = Record<string, Record<string, Variant>>;

export interface NmJoinOptions {
  iface: string;
  /** How long NetworkManager may take to associate and get an address (its own limit is ~45 s + DHCP). */
  timeoutMs?: number;
  /** The bus to talk to: the system bus on the board; a private bus in tests. */
  connectBus?: () => MessageBus;
}

export class NmDbusJoiner {
  private readonly timeoutMs: number;
  private readonly connectBus: () => MessageBus;

  constructor(private readonly opts: NmJoinOptions) {
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.connectBus = opts.connectBus ?? (() => systemBus());
  }

  /** Resolves once NetworkManager reports the connection activated; rejects with a WifiError. */
  async join(ssid: string, psk: string): Promise<void> {
    // One connection per join: joins are rare, and nothing stays open (or subscribed) between them.
    const bus = this.connectBus();
    let busError: ((err: unknown) => void) | undefined;
    const broken = new Promise<never>((_, reject) => {
      busError = reject;
    });
    broken.catch(() => undefined);
    // The library emits 'error' (socket refused, auth failed) without declaring it in its event map;
    // unhandled, it would throw out of the event loop.
    (bus as unknown as EventEmitter).on('error', (err: unknown) => busError?.(err));
    const signals: Message[] = [];
    let onSignal: (() => void) | undefined;
    bus.on('message', (msg: Message) => {
      if (msg.type !== MessageType.SIGNAL || msg.member !== 'StateChanged') return;
      if (msg.interface !== ACTIVE_IFACE && msg.interface !== DEVICE_IFACE) return;
      signals.push(msg);
      onSignal?.();
    });
    const call = (path: string, iface: string, member: string, signature = '', body: unknown[] = []): Promise<unknown[]> =>
      Promise.race([
        bus.call(new Message({ destination: NM, path, interface: iface, member, signature, body })).then((m) => m?.body ?? []),
        broken,
      ]);
    try {
      await Promise.race([
        bus.call(
          new Message({
            destination: 'org.freedesktop.DBus',
            path: '/org/freedesktop/DBus',
            interface: 'org.freedesktop.DBus',
            member: 'AddMatch',
            signature: 's',
            body: [`type='signal',sender='${NM}',member='StateChanged'`],
          }),
        ),
        broken,
      ]);
      const [device] = (await call(NM_PATH, NM, 'GetDeviceByIpIface', 's', [this.opts.iface])) as [string];
      const settings = wifiSettings(ssid, psk, this.opts.iface);
      const existing = await this.findProfile(call, ssid);
      let active: string;
      if (existing) {
        // Same profile, new secret: no second "Home 1" profile piling up per join.
        await call(existing, CONNECTION_IFACE, 'Update', 'a{sa{sv}}', [settings]);
        [active] = (await call(NM_PATH, NM, 'ActivateConnection', 'ooo', [existing, device, '/'])) as [string];
      } else {
        [, active] = (await call(NM_PATH, NM, 'AddAndActivateConnection', 'a{sa{sv}}oo', [settings, device, '/'])) as [string, string];
      }
      await this.follow(ssid, device, active, signals, (fn) => (onSignal = fn), broken, () =>
        call(NM_PATH, NM, 'DeactivateConnection', 'o', [active]).then(() => undefined),
      );
    } catch (err) {
      throw toWifiError(err, ssid, psk);
    } finally {
      onSignal = undefined;
      bus.disconnect();
    }
  }

  private async findProfile(call: (path: string, iface: string, member: string, sig?: string, body?: unknown[]) => Promise<unknown[]>, ssid: string): Promise<string | null> {
    const [paths] = (await call(SETTINGS_PATH, SETTINGS_IFACE, 'ListConnections')) as [string[]];
    for (const path of paths) {
      // GetSettings never returns secrets; a profile that vanished meanwhile is simply skipped.
      const got = await call(path, CONNECTION_IFACE, 'GetSettings').catch(() => null);
      const conn = (got?.[0] as Settings | undefined)?.connection;
      if (conn?.id?.value === ssid && conn.type?.value === '802-11-wireless') return path;
    }
    return null;
  }

  private follow(
    ssid: string,
    device: string,
    active: string,
    signals: Message[],
    setListener: (fn: (() => void) | undefined) => void,
    broken: Promise<never>,
    deactivate: () => Promise<void>,
  ): Promise<void> {
    let deviceReason: number | null = null;
    let seen = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        setListener(undefined);
        // Stop NetworkManager retrying in the background; the controller's backoff decides when to try again.
        deactivate()
          .catch(() => undefined)
          .finally(() => reject(new WifiError('failed', `joining "${ssid}" timed out after ${(this.timeoutMs / 1000).toFixed(this.timeoutMs < 10_000 ? 1 : 0)} s (no answer from the access point)`)));
      }, this.timeoutMs);
      const drain = (): void => {
        for (; seen < signals.length; seen++) {
          const msg = signals[seen];
          if (!msg) continue;
          if (msg.interface === DEVICE_IFACE && msg.path === device) {
            const [state, , reason] = msg.body as [number, number, number];
            if (state === DEVICE_FAILED) deviceReason = reason;
          } else if (msg.interface === ACTIVE_IFACE && msg.path === active) {
            const [state, reason] = msg.body as [number, number];
            if (state === AC_STATE.activated) {
              clearTimeout(timer);
              setListener(undefined);
              resolve();
              return;
            }
            if (state === AC_STATE.deactivated) {
              clearTimeout(timer);
              setListener(undefined);
              reject(failure(ssid, deviceReason, reason));
              return;
            }
          }
        }
      };
      setListener(drain);
      drain();
    });
    return Promise.race([done, broken]);
  }
}

/** The profile NetworkManager stores: id = SSID (node-wifi's forget deletes it by that id). */
function wifiSettings(ssid: string, psk: string, iface: string): Settings {
  return {
    connection: { id: new Variant('s', ssid), type: new Variant('s', '802-11-wireless'), 'interface-name': new Variant('s', iface) },
    '802-11-wireless': { ssid: new Variant('ay', Buffer.from(ssid, 'utf8')), mode: new Variant('s', 'infrastructure') },
    '802-11-wireless-security': { 'key-mgmt': new Variant('s', 'wpa-psk'), psk: new Variant('s', psk) },
    ipv4: { method: new Variant('s', 'auto') },
    ipv6: { method: new Variant('s', 'auto') },
  };
}

/** A deactivated join, in the words the policy and the owner act on. */
export function failure(ssid: string, deviceReason: number | null, acReason: number): WifiError {
  switch (deviceReason) {
    case DEVICE_REASON.noSecrets:
    case DEVICE_REASON.supplicantDisconnect:
    case DEVICE_REASON.supplicantConfigFailed:
      return new WifiError('auth', `wrong password for "${ssid}" (the access point refused the key)`);
    case DEVICE_REASON.ssidNotFound:
      return new WifiError('not-found', `no network "${ssid}" found`);
    case DEVICE_REASON.supplicantTimeout:
      return new WifiError('failed', `joining "${ssid}" timed out (the access point did not complete the handshake)`);
    case DEVICE_REASON.ipConfigUnavailable:
      return new WifiError('failed', `joined "${ssid}" but got no address (DHCP)`);
  }
  if (acReason === AC_REASON.noSecrets || acReason === AC_REASON.loginFailed) return new WifiError('auth', `wrong password for "${ssid}"`);
  if (acReason === AC_REASON.connectTimeout) return new WifiError('failed', `joining "${ssid}" timed out`);
  return new WifiError('failed', `joining "${ssid}" failed (NetworkManager reason ${acReason}${deviceReason === null ? '' : `, device reason ${deviceReason}`})`);
}

/** D-Bus errors of the calls themselves (no NetworkManager, no interface, polkit said no). */
function toWifiError(err: unknown, ssid: string, psk: string): WifiError {
  if (err instanceof WifiError) return err;
  const e = err as { type?: unknown; text?: unknown; message?: unknown };
  const type = typeof e.type === 'string' ? e.type : '';
  const text = typeof e.text === 'string' ? e.text : typeof e.message === 'string' ? e.message : String(err);
  let message: string;
  if (type === 'org.freedesktop.DBus.Error.ServiceUnknown' || type === 'org.freedesktop.DBus.Error.NameHasNoOwner') message = 'NetworkManager is not running';
  else if (type === 'org.freedesktop.NetworkManager.UnknownDevice') message = `no Wi-Fi interface: ${text}`;
  else if (/AccessDenied|PermissionDenied|NotAuthorized/.test(type)) message = `NetworkManager refused the join (polkit): ${text}`;
  else message = `joining "${ssid}" failed: ${text}`;
  // NetworkManager never echoes the key, but an error text is no place to bet on that.
  return new WifiError('failed', message.split(psk).join('***'));
}

/**
 * The board's Wi-Fi backend: node-wifi for everything without a secret, D-Bus for the join.
 */
export class NmDbusWifiBackend implements WifiBackend {
  constructor(
    private readonly status: NodeWifiBackend,
    private readonly joiner: NmDbusJoiner,
  ) {}

  scan(): Promise<WifiNetwork[]> {
    return this.status.scan();
  }

  async connect(ssid: string, psk: string): Promise<void> {
    // A scan first gives the quick "not in range" answer (and the list seen) before NetworkManager tries.
    const seen = await this.status.scan().catch(() => null);
    if (seen && !seen.some((n) => n.ssid === ssid)) throw new WifiError('not-found', `"${ssid}" not in range (${seen.length} networks seen)`);
    await this.joiner.join(ssid, psk);
  }

  disconnect(): Promise<void> {
    return this.status.disconnect();
  }

  current(): Promise<WifiConnection | null> {
    return this.status.current();
  }

  forget(ssid: string): Promise<void> {
    return this.status.forget(ssid);
  }
}
