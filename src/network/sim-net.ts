import { WifiError, type LinkBackend, type LinkReading, type WifiBackend, type WifiConnection, type WifiNetwork } from './types.js';

/**
 * The sim board's network: a link model driven by `sim.link` (cable in/out, router with or
 * without DHCP) and a scripted Wi-Fi radio driven by `sim.wifi` (which access points are in
 * range, with which passphrase). Wi-Fi association cannot exist on a CI host, so it is the one
 * part of networking simulated; connectivity checks on the sim board still go to the real
 * configured broker.
 *
 * Semantics:
 *  - wired iface: `carrier` = cable in; `route` (default: follows carrier) = the router hands out
 *    a lease and a default route.
 *  - wifi iface: `carrier: false` = every access point out of range (drops the association);
 *    `carrier: true` = back in range (the daemon rejoins by itself). The default route exists
 *    while associated, unless `route: false`.
 */
export interface SimAp {
  ssid: string;
  psk: string;
  quality: number;
}

interface SimIface {
  carrier: boolean;
  route: boolean;
  metric: number;
}

export class SimNetwork {
  private readonly ifaces = new Map<string, SimIface>();
  private aps: SimAp[] = [];
  private associated: string | null = null;
  /** Network profiles "saved in the OS" by successful joins; `forget` removes them. */
  readonly profiles = new Set<string>();
  private readonly listeners = new Set<() => void>();
  readonly link: LinkBackend;
  readonly wifi: WifiBackend;

  constructor(
    readonly wiredIface: string,
    readonly wifiIface: string,
    initial: { wiredCarrier: boolean } = { wiredCarrier: true },
  ) {
    this.ifaces.set(wiredIface, { carrier: initial.wiredCarrier, route: initial.wiredCarrier, metric: 100 });
    this.ifaces.set(wifiIface, { carrier: true, route: true, metric: 600 });
    this.link = {
      read: async (iface) => this.read(iface),
      setDefaultMetric: async (iface, metric) => {
        const s = this.ifaces.get(iface);
        if (s) s.metric = metric;
      },
      onChange: (l) => {
        this.listeners.add(l);
        return () => this.listeners.delete(l);
      },
    };
    this.wifi = {
      scan: async () => this.scan(),
      connect: async (ssid, psk) => this.connect(ssid, psk),
      disconnect: async () => this.setAssociated(null),
      current: async () => this.current(),
      forget: async (ssid) => {
        this.profiles.delete(ssid);
      },
    };
  }

  setLink(iface: string, carrier: boolean, route?: boolean): void {
    const s = this.ifaces.get(iface);
    if (!s) throw new Error(`no interface ${iface} on the sim board`);
    s.carrier = carrier;
    s.route = route ?? carrier;
    if (iface === this.wifiIface && !carrier) this.associated = null;
    this.changed();
  }

  setAccessPoints(aps: SimAp[]): void {
    this.aps = aps.map((a) => ({ ...a }));
    if (this.associated && !this.inRange().some((a) => a.ssid === this.associated)) this.associated = null;
    this.changed();
  }

  status(): Record<string, unknown> {
    return {
      links: Object.fromEntries([...this.ifaces].map(([k, v]) => [k, { ...v }])),
      accessPoints: this.aps.map((a) => ({ ssid: a.ssid, quality: a.quality })),
      associated: this.associated,
      profiles: [...this.profiles],
    };
  }

  private read(iface: string): LinkReading {
    const s = this.ifaces.get(iface);
    if (!s) return { iface, present: false, carrier: false, operstate: 'absent', address: null, defaultRoute: null };
    const isWifi = iface === this.wifiIface;
    const carrier = isWifi ? this.associated !== null : s.carrier;
    const route = carrier && s.route;
    return {
      iface,
      present: true,
      carrier,
      operstate: carrier ? 'up' : 'down',
      address: route ? (isWifi ? '192.0.2.102' : '192.0.2.101') : null,
      defaultRoute: route ? { gateway: '192.0.2.1', metric: s.metric } : null,
    };
  }

  private inRange(): SimAp[] {
    return this.ifaces.get(this.wifiIface)?.carrier ? this.aps : [];
  }

  private scan(): WifiNetwork[] {
    return this.inRange().map((a) => ({ ssid: a.ssid, quality: a.quality, security: 'WPA2' }));
  }

  private connect(ssid: string, psk: string): void {
    const ap = this.inRange().find((a) => a.ssid === ssid);
    if (!ap) throw new WifiError('not-found', `"${ssid}" not in range (${this.inRange().length} networks seen)`);
    if (ap.psk !== psk) throw new WifiError('auth', 'Secrets were required, but not provided (wrong passphrase)');
    this.profiles.add(ssid);
    this.setAssociated(ssid);
  }

  private current(): WifiConnection | null {
    if (!this.associated) return null;
    const ap = this.aps.find((a) => a.ssid === this.associated);
    return { ssid: this.associated, quality: ap?.quality ?? null };
  }

  private setAssociated(ssid: string | null): void {
    this.associated = ssid;
    this.changed();
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }
}
