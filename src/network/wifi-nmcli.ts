import { createRequire } from 'node:module';
import { WifiError, type WifiBackend, type WifiConnection, type WifiErrorKind, type WifiNetwork } from './types.js';

/**
 * Scanning and status through node-wifi, which drives NetworkManager's `nmcli` on Linux, bound
 * to the board's wifiInterface. node-wifi keeps its settings in its module, so one daemon has
 * one instance of this backend.
 *
 * No join here: node-wifi's connect passes the passphrase to `nmcli` on the command line, where
 * any local user could read it from /proc/<pid>/cmdline while nmcli runs. Joins go over D-Bus
 * (wifi-nm-dbus.ts); node-wifi's connect is left out of the interface below so nothing can call it.
 * nmcli's errors are still reduced to its own words, and a secret is scrubbed if one is given.
 * node-wifi spawns nmcli itself: these children do not go through the supervisor's runner.
 */
interface NodeWifi {
  init(opts: { iface: string | null; debug?: boolean }): void;
  scan(): Promise<{ ssid: string; quality: number; security: string }[]>;
  disconnect(): Promise<void>;
  getCurrentConnections(): Promise<{ ssid: string; quality: number; iface: string }[]>;
  deleteConnection(ap: { ssid: string }): Promise<void>;
}

export class NodeWifiBackend implements Omit<WifiBackend, 'connect'> {
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

/**
 * nmcli's words from a node-wifi error: its `Command failed: nmcli …` line (which carries the
 * passphrase) is dropped in favour of nmcli's own `Error: …` line, and `secret` is scrubbed from
 * whatever is left.
 */
export function classify(err: unknown, secret?: string): WifiError {
  if (err instanceof WifiError) return err;
  const e = err as { message?: unknown; stderr?: unknown; stdout?: unknown };
  const text = [e.stderr, e.stdout, e.message ?? String(err)].filter((t): t is string => typeof t === 'string').join('\n');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !/^Command failed:/i.test(l));
  const said = lines.find((l) => /^Error:/i.test(l)) ?? lines[0] ?? 'nmcli failed';
  let message = said.replace(/^Error:\s*/i, '');
  if (secret) message = message.split(secret).join('***');
  return new WifiError(classifyWifiMessage(message), message);
}
