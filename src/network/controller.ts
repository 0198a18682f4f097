import type { Logger } from 'pino';
import { backoffDelay, type Clock, type TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { NetworkSummary } from '../state/store.js';
import type { CheckTarget, ConnectivityChecker } from './connectivity.js';
import { decide, type Decision, type NetworkAction, type PolicyInput } from './policy.js';
import { METRIC_PREFERRED, METRIC_STANDBY, WifiError, type LinkBackend, type LinkReading, type Uplink, type WifiBackend } from './types.js';

export interface ControllerTimings {
  /** Link polling for backends without change events (sysfs has none worth the complexity). */
  pollMs: number;
  /** Re-check a working uplink this often. */
  checkIntervalMs: number;
  /** Re-check a failing uplink this often. */
  checkRetryMs: number;
  checkTimeoutMs: number;
  wifiBackoff: { baseMs: number; maxMs: number };
  /** How long wired stays demoted after a failed check; doubles per failure, reset by a re-plug. */
  demoteBackoff: { baseMs: number; maxMs: number };
}

export const DEFAULT_TIMINGS: ControllerTimings = {
  pollMs: 2_000,
  checkIntervalMs: 30_000,
  checkRetryMs: 10_000,
  checkTimeoutMs: 5_000,
  wifiBackoff: { baseMs: 5_000, maxMs: 300_000 },
  demoteBackoff: { baseMs: 30_000, maxMs: 600_000 },
};

export interface ControllerDeps {
  clock: Clock;
  log: Logger;
  link: LinkBackend;
  wifi: WifiBackend;
  checker: ConnectivityChecker;
  wiredIface: string;
  wifiIface: string;
  timings: ControllerTimings;
  preferWired(): boolean;
  savedWifi(): { ssid: string; psk: string } | null;
  target(): CheckTarget | null;
  cloudConnected(): boolean | undefined;
  graceMs(): number;
  /** Every round's outcome: the summary to publish and whether provisioning should run. */
  onDecision(summary: NetworkSummary, decision: Decision): void;
  onJoined?(ssid: string): void;
}

interface CheckState {
  via: Uplink;
  ok: boolean;
  target: string;
  at: number;
  error?: string;
  /** First failure of the current run of failures through `via`. */
  failingSince?: number;
}

/**
 * Executes the network policy: observes the links and Wi-Fi, asks `decide` for the steps, runs
 * them one at a time, and feeds the outcomes (failed joins with their backoff, demotion of a
 * wired uplink that cannot reach the cloud, the last check) back into the next round. Rounds
 * never overlap; a change during a round schedules another one.
 */
export class NetworkController {
  private routePreference: Uplink | null = null;
  private demoted: { until: number; reason: string } | null = null;
  private demoteAttempt = 0;
  private wifiFailure: PolicyInput['wifiFailure'] = null;
  private wifiAttempt = 0;
  private check: CheckState | null = null;
  private checkInFlight = false;
  private lastWiredCarrier: boolean | null = null;
  private running = false;
  private inRound = false;
  private again = false;
  private pollTimer: TimerHandle | undefined;
  private wakeTimer: TimerHandle | undefined;
  private unlisten: (() => void) | undefined;
  private lastError = new Map<string, string>();
  lastDecision: Decision | undefined;

  constructor(private readonly deps: ControllerDeps) {}

  start(): void {
    this.running = true;
    this.unlisten = this.deps.link.onChange?.(() => this.schedule());
    this.pollTimer = this.deps.clock.setInterval(() => this.schedule(), this.deps.timings.pollMs);
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.unlisten?.();
    this.deps.clock.clearInterval(this.pollTimer);
    this.deps.clock.clearTimeout(this.wakeTimer);
  }

  /** New credentials were saved: forget the old failure and join now. */
  credentialsChanged(): void {
    this.wifiFailure = null;
    this.wifiAttempt = 0;
    this.schedule();
  }

  schedule(): void {
    if (!this.running) return;
    if (this.inRound) {
      this.again = true;
      return;
    }
    void this.round();
  }

  private async round(): Promise<void> {
    this.inRound = true;
    try {
      // A bounded number of passes: each executed step changes the inputs, the next pass sees it.
      for (let pass = 0; pass < 6 && this.running; pass++) {
        this.again = false;
        const changed = await this.pass();
        if (!changed && !this.again) break;
      }
    } catch (err) {
      this.deps.log.error({ err: errorMessage(err) }, 'network round failed');
    } finally {
      this.inRound = false;
    }
  }

  /** One observe → decide → publish → execute pass; true when a step changed something. */
  private async pass(): Promise<boolean> {
    const { deps } = this;
    const now = deps.clock.now();
    const [wired, wifiLink, conn] = await Promise.all([
      deps.link.read(deps.wiredIface),
      deps.link.read(deps.wifiIface),
      deps.wifi.current().catch((err: unknown) => {
        this.logOnce('wifi.current', errorMessage(err));
        return null;
      }),
    ]);
    if (!this.running) return false;
    const wiredRoute = wired.defaultRoute !== null;
    if (wired.carrier && this.lastWiredCarrier === false) {
      // A re-plugged cable is a new chance for wired, whatever the last check said.
      this.demoted = null;
      this.demoteAttempt = 0;
    }
    this.lastWiredCarrier = wired.carrier;
    const saved = deps.savedWifi();
    const target = deps.target();
    const input: PolicyInput = {
      now,
      preferWired: deps.preferWired(),
      wiredIface: deps.wiredIface,
      wifiIface: deps.wifiIface,
      wired: { present: wired.present, carrier: wired.carrier, hasRoute: wiredRoute },
      wiredDemoted: this.demoted,
      wifi: { connected: conn !== null, ssid: conn?.ssid ?? null },
      saved: saved ? { ssid: saved.ssid } : null,
      wifiFailure: this.wifiFailure,
      canCheck: target !== null,
      check: target ? this.check : null,
      graceMs: deps.graceMs(),
      cloudConnected: deps.cloudConnected(),
      routePreference: this.routePreference,
    };
    const decision = decide(input);
    this.lastDecision = decision;
    deps.onDecision(this.summary(decision, wired, wifiLink, conn, saved !== null), decision);
    this.armWake(input);

    let changed = false;
    for (const action of decision.actions) {
      if (!this.running) return false;
      changed = (await this.execute(action, saved, target, wired)) || changed;
    }
    if (decision.active && !this.checkInFlight && target && this.check?.via === decision.active) {
      const age = now - this.check.at;
      if (age >= (this.check.ok ? deps.timings.checkIntervalMs : deps.timings.checkRetryMs)) this.startCheck(decision.active, target);
    }
    return changed;
  }

  private async execute(action: NetworkAction, saved: { ssid: string; psk: string } | null, target: CheckTarget | null, wired: LinkReading): Promise<boolean> {
    const { deps } = this;
    switch (action.type) {
      case 'prefer': {
        const other = action.uplink === 'wired' ? deps.wifiIface : deps.wiredIface;
        const mine = action.uplink === 'wired' ? deps.wiredIface : deps.wifiIface;
        try {
          await deps.link.setDefaultMetric(other, METRIC_STANDBY);
          await deps.link.setDefaultMetric(mine, METRIC_PREFERRED);
          this.routePreference = action.uplink;
          this.lastError.delete('prefer');
          deps.log.info({ uplink: action.uplink, iface: mine }, 'uplink preferred');
          return true;
        } catch (err) {
          this.logOnce('prefer', errorMessage(err));
          return false;
        }
      }
      case 'join-wifi': {
        if (!saved || saved.ssid !== action.ssid) return false;
        deps.log.info({ ssid: saved.ssid }, 'joining Wi-Fi');
        try {
          await deps.wifi.connect(saved.ssid, saved.psk);
          this.wifiFailure = null;
          this.wifiAttempt = 0;
          deps.log.info({ ssid: saved.ssid }, 'Wi-Fi joined');
          deps.onJoined?.(saved.ssid);
        } catch (err) {
          const kind = err instanceof WifiError ? err.kind : 'failed';
          const retryIn = backoffDelay(this.wifiAttempt, deps.timings.wifiBackoff);
          this.wifiAttempt++;
          this.wifiFailure = { ssid: saved.ssid, kind, message: errorMessage(err), retryAt: deps.clock.now() + retryIn };
          deps.log.warn({ ssid: saved.ssid, kind, error: errorMessage(err), retryInMs: retryIn }, 'Wi-Fi join failed');
        }
        return true;
      }
      case 'demote-wired': {
        const forMs = backoffDelay(this.demoteAttempt, deps.timings.demoteBackoff);
        this.demoteAttempt++;
        this.demoted = { until: deps.clock.now() + forMs, reason: action.reason };
        this.check = null;
        deps.log.warn({ iface: wired.iface, reason: action.reason, forMs }, 'wired uplink demoted: falling back to Wi-Fi');
        return true;
      }
      case 'check':
        if (target && !this.checkInFlight) this.startCheck(action.via, target);
        return false;
    }
  }

  private startCheck(via: Uplink, target: CheckTarget): void {
    const { deps } = this;
    this.checkInFlight = true;
    void deps.checker.check(target, deps.timings.checkTimeoutMs).then((res) => {
      this.checkInFlight = false;
      if (!this.running) return;
      // A result only describes the uplink that was active while it ran.
      if (this.lastDecision?.active !== via) {
        this.schedule();
        return;
      }
      const prev = this.check?.via === via ? this.check : null;
      const prevOk = prev?.ok;
      const now = deps.clock.now();
      const failingSince = res.ok ? undefined : prev && !prev.ok ? (prev.failingSince ?? prev.at) : now;
      this.check = { via, ok: res.ok, target: res.target, at: now, ...(res.error ? { error: res.error } : {}), ...(failingSince !== undefined ? { failingSince } : {}) };
      if (prevOk !== res.ok) deps.log.info({ via, target: res.target, ok: res.ok, error: res.error, latencyMs: res.latencyMs }, 'connectivity check');
      else deps.log.debug({ via, target: res.target, ok: res.ok, latencyMs: res.latencyMs }, 'connectivity check');
      this.schedule();
    });
  }

  /** Wake up when a backoff ends, so a retry does not wait for the next poll. */
  private armWake(input: PolicyInput): void {
    const now = input.now;
    const graceEnd = input.check && !input.check.ok ? (input.check.failingSince ?? now) + input.graceMs : undefined;
    const times = [input.wiredDemoted?.until, input.wifiFailure?.retryAt, graceEnd].filter((t): t is number => t !== undefined && t > now);
    this.deps.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (times.length) this.wakeTimer = this.deps.clock.setTimeout(() => this.schedule(), Math.min(...times) - now);
  }

  private summary(d: Decision, wired: LinkReading, wifiLink: LinkReading, conn: { ssid: string; quality: number | null } | null, saved: boolean): NetworkSummary {
    const target = this.deps.target();
    const check = this.check && target ? this.check : null;
    return {
      phase: d.phase,
      ...(d.reason ? { reason: d.reason } : {}),
      active: d.active,
      wired: { iface: wired.iface, carrier: wired.carrier, hasRoute: wired.defaultRoute !== null, address: wired.address },
      wifi: { iface: wifiLink.iface, ssid: conn?.ssid ?? null, signal: conn?.quality ?? null, connected: conn !== null, saved },
      ...(check ? { check: { via: check.via, ok: check.ok, target: check.target, at: check.at, ...(check.error ? { error: check.error } : {}) } } : {}),
    };
  }

  private logOnce(key: string, message: string): void {
    if (this.lastError.get(key) === message) return;
    this.lastError.set(key, message);
    this.deps.log.warn({ op: key, error: message }, 'network operation failed');
  }
}
