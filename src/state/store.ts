import { OwnedListeners } from '../core/owned-listeners.js';

/**
 * The state store: what is true now. Each service owns slices and writes only those; the LED,
 * camctl and the cloud link read it. Modules add their slices by declaration merging:
 *
 *   declare module '../state/store.js' { interface CamState { storage?: StorageState } }
 *
 * Merged slices are optional: the core boots without the module that owns them.
 */
export type Lifecycle = 'booting' | 'running' | 'stopping' | 'stopped';

export type FaultKind = 'camera' | 'network';

export interface Fault {
  kind: FaultKind;
  component: string;
  message: string;
  since: number;
}

export interface ServiceHealth {
  status: 'starting' | 'running' | 'failed' | 'stopped' | 'degraded' | 'disabled';
  error?: string;
  since: number;
}

/**
 * A child process of the daemon (src/supervisor/runner.ts). `supervised` children (capture
 * ffmpeg, the QR scanner) are restarted by their runner and keep their entry, keyed by name, when
 * they stop; `once` children (a stitch, a live push, nmcli, `ip`, the card format) run to their
 * end and are listed only while they run, keyed `<name>#<pid>` because several of one name can run
 * at once.
 */
export interface ChildHealth {
  name: string;
  kind: 'supervised' | 'once';
  status: 'starting' | 'running' | 'backoff' | 'stopped' | 'failed';
  pid?: number;
  /** When the running process started (epoch ms); absent while none runs. */
  since?: number;
  /** Always 0 for `once` children: they are never restarted. */
  restarts: number;
  lastExit?: { code: number | null; signal: string | null; at: number };
  lastError?: string;
  nextStartAt?: number;
}

export interface NetworkSummary {
  /**
   * `unknown` until a network manager reports; `provisioning` = no usable network and no saved
   * Wi-Fi (LED fast blue); `exception` = a network problem the owner must look at (slow red).
   */
  phase: 'unknown' | 'connecting' | 'online' | 'exception' | 'provisioning';
  reason?: string;
}

export interface CamState {
  lifecycle: Lifecycle;
  bootId: string;
  bootCount: number;
  startedAt: number;
  faults: Record<string, Fault>;
  services: Record<string, ServiceHealth>;
  children: Record<string, ChildHealth>;
  network: NetworkSummary;
  /** Number of live-view sessions being watched now (LED solid blue while > 0). */
  liveViewers: number;
  sleeping: boolean;
  /**
   * Physical presence (README "Who may do what"): until when a short RESET press lets the cloud use
   * `presence`-class commands (re-provisioning a bound camera, factory reset). null = closed.
   */
  presence: { until: number | null };
  config?: ConfigState;
}

export interface ConfigState {
  source: 'file' | 'defaults' | 'last-good';
  file: string;
  error?: { file: string; path: string; message: string };
  pendingRestart: string[];
  secretsError?: string;
}

export type StateKey = keyof CamState;
type Listener = (state: Readonly<CamState>, changed: ReadonlySet<StateKey>) => void;

export class StateStore {
  private state: CamState;
  private readonly listeners = new OwnedListeners<Listener>();
  private batchDepth = 0;
  private pending = new Set<StateKey>();
  /** Live viewers by source (`live` pushes, `rtsp` clients): liveViewers is their sum. */
  private readonly viewers = new Map<string, number>();

  constructor(initial: CamState) {
    this.state = initial;
  }

  get(): Readonly<CamState> {
    return this.state;
  }

  /** Replace one slice. Slices are immutable values: always write a new object. */
  set<K extends StateKey>(key: K, value: CamState[K]): void {
    if (Object.is(this.state[key], value)) return;
    this.state = { ...this.state, [key]: value };
    this.pending.add(key);
    if (this.batchDepth === 0) this.flush();
  }

  /**
   * One source's count of live viewers. Several features serve viewers (live pushes, RTSP
   * clients); each reports its own count here so none overwrites another's, and
   * state.liveViewers (the LED's solid blue) is the sum.
   */
  setViewers(source: string, n: number): void {
    this.viewers.set(source, n);
    let sum = 0;
    for (const v of this.viewers.values()) sum += v;
    this.set('liveViewers', sum);
  }

  update<K extends StateKey>(key: K, fn: (prev: CamState[K]) => CamState[K]): void {
    this.set(key, fn(this.state[key]));
  }

  /** Group several writes into one notification. */
  batch(fn: () => void): void {
    this.batchDepth++;
    try {
      fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.flush();
    }
  }

  /**
   * Calls `listener` after every change. With an `owner` (a service), the supervisor releases it
   * when that service stops; the returned function releases it earlier.
   */
  subscribe(listener: Listener): () => void;
  subscribe(owner: object, listener: Listener): () => void;
  subscribe(a: object | Listener, b?: Listener): () => void {
    return b ? this.listeners.add(a, b) : this.listeners.add(undefined, a as Listener);
  }

  /** Drops every listener `owner` subscribed (supervisor, at the owner's stop). */
  removeOwner(owner: object): void {
    this.listeners.removeOwner(owner);
  }

  raiseFault(id: string, fault: Omit<Fault, 'since'>, now: number): void {
    const prev = this.state.faults[id];
    if (prev && prev.message === fault.message && prev.kind === fault.kind) return;
    this.set('faults', { ...this.state.faults, [id]: { ...fault, since: prev?.since ?? now } });
  }

  clearFault(id: string): void {
    if (!(id in this.state.faults)) return;
    const next = { ...this.state.faults };
    delete next[id];
    this.set('faults', next);
  }

  private flush(): void {
    if (this.pending.size === 0) return;
    const changed = this.pending;
    this.pending = new Set();
    for (const l of this.listeners.snapshot()) {
      try {
        l(this.state, changed);
      } catch {
        // Listeners are services' code; the store stays consistent whatever they do.
      }
    }
  }
}

export function initialState(bootCount: number, bootId: string, now: number): CamState {
  return {
    lifecycle: 'booting',
    bootId,
    bootCount,
    startedAt: now,
    faults: {},
    services: {},
    children: {},
    network: { phase: 'unknown' },
    liveViewers: 0,
    sleeping: false,
    presence: { until: null },
  };
}
