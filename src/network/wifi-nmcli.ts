import { createRequire } from 'node:module';
import { WifiError, type WifiBackend, type WifiConnection, type WifiErrorKind, type WifiNetwork } from './types.js';

/**
 * The real Wi-Fi backend: node-wifi, which drives NetworkManager's `nmcli` on Linux, bound to
 * the board's wifiInterface. node-wifi keeps its settings in its module, so one daemon has one
 * instance of this backend.
 *
 * Known limit of node-wifi: it passes the passphrase to `nmcli` on the command line, where a
 * local user could read it from /proc while nmcli runs; the board runs nothing but the daemon.
 */
interface NodeWifi {
  init(opts: { iface: string | null; debug?: boolean }): void;
  scan(): Promise<{ ssid: string; quality: number; security: string }[]>;
  connect(ap: { ssid: string; password: string }): Promise<void>;
  disconnect(): Promise<void>;
  getCurrentConnections(): Promise<{ ssid: string; quality: number; iface: string }[]>;
  deleteConnection(ap: { ssid: string }): Promise<void>;
}

export class NodeWifiBackend implements WifiBackend {
  private readonly wifi: NodeWifi;

  constructor(private readonly iface: string) {
    // node-wifi is CommonJS without types.
    this.wifi = createRequire(import.meta.url)('node-wifi') as NodeWifi;
    this.wifi.init({ iface });
  }

  async scan(): Promise<WifiNetwork[]> {
    try {
      const list = await this.wifi.scan();
      return list.filter((n) => n.ssid).map((n) => ({ ssid: n.ssid, quality: n.quality, security: n.security }));
    } catch (err) {
      throw classify(err);
    }
  }

  async connect(ssid: string, psk: string): Promise<void> {
    // A scan first gives the precise "not in range" answer instead of nmcli's generic failure.
    const seen = await this.scan().catch(() => null);
    if (seen && !seen.some((n) => n.ssid === ssid)) throw new WifiError('not-found', `"${ssid}" not in range (${seen.length} networks seen)`);
    try {
      await this.wifi.connect({ ssid, password: psk });
    } catch (err) {
      throw classify(err);
    }
  }

  async disconnect(): Promise<void> {
    await this.wifi.disconnect().catch((err: unknown) => {
      throw classify(err);
    });
  }

  async current(): Promise<WifiConnection | null> {
    const list = await this.wifi.getCurrentConnections().catch((err: unknown) => {
      throw classify(err);
    });
    const mine = list.find((c) => c.iface === this.iface) ?? list[0];
    return mine ? { ssid: mine.ssid, quality: Number.isFinite(mine.quality) ? mine.quality : null } : null;
  }

  async forget(ssid: string): Promise<void> {
    await this.wifi.deleteConnection({ ssid }).catch((err: unknown) => {
      throw classify(err);
    });
  }
}

/** nmcli's wording, mapped to what the policy acts on. */
export function classifyWifiMessage(message: string): WifiErrorKind {
  if (/secrets were required|802-1x|authenticat|wrong password|invalid passphrase|psk/i.test(message)) return 'auth';
  if (/no network with ssid|not found|not in range/i.test(message)) return 'not-found';
  return 'failed';
}

function classify(err: unknown): WifiError {
  if (err instanceof WifiError) return err;
  const message = (err instanceof Error ? err.message : String(err)).trim().split('\n')[0] ?? 'unknown error';
  return new WifiError(classifyWifiMessage(message), message);
}
