/**
 * The network manager's vocabulary: what the link and Wi-Fi backends report, and the extra
 * fields of `state.network` (merged into the core's NetworkSummary; all optional so the core
 * boots without this module).
 */
export type Uplink = 'wired' | 'wifi';

declare module '../state/store.js' {
  interface NetworkSummary {
    /** The uplink the default route goes through now (null: none usable). */
    active?: Uplink | null;
    wired?: WiredSummary;
    wifi?: WifiSummary;
    /** The last connectivity check of the active uplink. */
    check?: CheckSummary;
  }
}

export interface WiredSummary {
  iface: string;
  carrier: boolean;
  hasRoute: boolean;
  address: string | null;
}

export interface WifiSummary {
  iface: string;
  /** The SSID the daemon is joined to now (null: not associated). */
  ssid: string | null;
  /** 0..100 % as the backend reports it; null when unknown or not associated. */
  signal: number | null;
  connected: boolean;
  /** Whether Wi-Fi credentials are saved (never the credentials themselves). */
  saved: boolean;
}

export interface CheckSummary {
  via: Uplink;
  ok: boolean;
  target: string;
  at: number;
  latencyMs?: number;
  error?: string;
}

/** One interface as the kernel (or the sim link model) sees it. */
export interface LinkReading {
  iface: string;
  /** The interface exists at all (a USB dongle may be missing). */
  present: boolean;
  carrier: boolean;
  operstate: string;
  address: string | null;
  /** The IPv4 default route through this interface, if any. */
  defaultRoute: { gateway: string; metric: number } | null;
}

/**
 * Link layer access. `read` never throws for a missing interface (present: false);
 * `setDefaultMetric` re-installs the interface's default route with the given metric (no-op
 * without one), which is how the preferred uplink wins the kernel's route lookup.
 */
export interface LinkBackend {
  read(iface: string): Promise<LinkReading>;
  setDefaultMetric(iface: string, metric: number): Promise<void>;
  /** Backends that learn of changes by events (the sim) call back; real ones are polled. */
  onChange?(listener: () => void): () => void;
}

export interface WifiNetwork {
  ssid: string;
  /** 0..100 % */
  quality: number;
  security: string;
}

export interface WifiConnection {
  ssid: string;
  quality: number | null;
}

export type WifiErrorKind = 'auth' | 'not-found' | 'failed';

/** A Wi-Fi operation failed; `kind` decides what the policy does (auth → provisioning). */
export class WifiError extends Error {
  constructor(
    readonly kind: WifiErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'WifiError';
  }
}

/**
 * Wi-Fi association on the board's wifiInterface. `connect` resolves once associated with an
 * address, or rejects with a WifiError; `forget` removes the saved network profile the daemon
 * created (factory reset, replaced credentials).
 */
export interface WifiBackend {
  scan(): Promise<WifiNetwork[]>;
  connect(ssid: string, psk: string): Promise<void>;
  disconnect(): Promise<void>;
  current(): Promise<WifiConnection | null>;
  forget(ssid: string): Promise<void>;
}

/** Route metrics: the preferred uplink gets the lower one (NetworkManager's own defaults). */
export const METRIC_PREFERRED = 100;
export const METRIC_STANDBY = 600;
