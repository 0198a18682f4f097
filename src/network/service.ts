import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CamdError, errorMessage } from '../core/errors.js';
import type { Context, Service } from '../supervisor/service.js';
import type { NetworkSummary } from '../state/store.js';
import { ConnectivityChecker, targetFromUrl, type CheckTarget } from './connectivity.js';
import { DEFAULT_TIMINGS, NetworkController, type ControllerTimings } from './controller.js';
import { LinuxLinkBackend, onceCommand } from './link-linux.js';
import type { Decision } from './policy.js';
import { sleepGate } from '../state/sleep-gate.js';
import { QrScanner } from './qr-scanner.js';
import { SimNetwork } from './sim-net.js';
import type { LinkBackend, WifiBackend } from './types.js';
import { parseWifiQr } from './wifi-qr.js';
import { NodeWifiBackend } from './wifi-nmcli.js';
import { NmDbusJoiner, NmDbusWifiBackend } from './wifi-nm-dbus.js';
import { OnceRunner } from '../supervisor/runner.js';

/**
 * The network manager: wired over Wi-Fi (policy.ts, run by controller.ts), provisioning
 * (a Wi-Fi QR code read through the wide lens, or the `network.provision` command), and
 * `state.network`. The LED follows the phase it publishes; nothing here touches the LED.
 */
export interface NetworkServiceOptions {
  timings?: Partial<ControllerTimings>;
  /** QR decodes per second while provisioning (from the wide lens's tap frames). */
  scanFps?: number;
}

export const ProvisionArgs = z
  .object({
    ssid: z.string().min(1).max(32).refine((s) => Buffer.byteLength(s, 'utf8') <= 32, 'SSID must be at most 32 bytes'),
    psk: z.string().min(8).max(63),
    bindingToken: z.string().min(8).max(256),
  })
  .strict();

export class NetworkService implements Service {
  readonly name = 'network';
  private readonly log: Logger;
  private controller: NetworkController | undefined;
  private scanner: QrScanner | undefined;
  private sim: SimNetwork | undefined;
  private wifi: WifiBackend | undefined;
  /** nmcli and `ip` calls of the real backends (one-shot children). */
  private procs: OnceRunner | undefined;
  private published = '';
  private unsubscribe: (() => void) | undefined;
  private unConfig: (() => void) | undefined;
  /** SSIDs whose OS profile the daemon created: forgotten on a factory reset. */
  private readonly known = new Set<string>();
  private lastQr: string | undefined;
  private qrNote: string | undefined;
  /** The controller's last round, republished when the QR scanner's status changes between rounds. */
  private last: { summary: NetworkSummary; provisioning: boolean } | undefined;
  private provisioning: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly ctx: Context,
    private readonly opts: NetworkServiceOptions = {},
  ) {
    this.log = ctx.log('network');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const { wiredInterface, wifiInterface } = ctx.board.network;
    let link: LinkBackend;
    if (ctx.board.backend === 'sim') {
      this.sim = new SimNetwork(wiredInterface, wifiInterface);
      link = this.sim.link;
      this.wifi = this.sim.wifi;
    } else {
      this.procs = new OnceRunner({ clock: ctx.clock, log: this.log, state: ctx.state });
      link = new LinuxLinkBackend({ run: onceCommand(this.procs) });
      // node-wifi (the design card's Wi-Fi library) scans and reports status, running nmcli itself
      // outside the runner; joins go over D-Bus so the passphrase is on no command line.
      this.wifi = new NmDbusWifiBackend(new NodeWifiBackend(wifiInterface), new NmDbusJoiner({ iface: wifiInterface }));
    }
    const saved = ctx.secrets.get().wifi;
    if (saved) this.known.add(saved.ssid);

    // The QR reader consumes the capture tap's wide frames (no ffmpeg of its own) and asks for a
    // larger gray plane while it scans: why, and why 960, in src/network/qr-scanner.ts.
    this.scanner = new QrScanner({
      lensName: 'wide',
      lens: ctx.board.video.wide,
      fps: this.opts.scanFps ?? 1,
      maxWidth: 960,
      frames: (handler) => ctx.bus.on(this, 'capture.frame', handler),
      demand: (gray) => ctx.bus.emit('capture.tap.demand', { owner: 'network.qr', lens: 'wide', gray }),
      log: this.log,
      onCode: (text) => this.onQr(text),
      onStatus: () => this.publishNetwork(),
      // privacy: no lens reading in sleep mode, provisioning or not (src/network/qr-scanner.ts)
      sleep: sleepGate(ctx),
    });
    this.controller = new NetworkController({
      clock: ctx.clock,
      log: this.log,
      link,
      wifi: this.wifi,
      checker: new ConnectivityChecker(ctx.clock),
      wiredIface: wiredInterface,
      wifiIface: wifiInterface,
      timings: { ...DEFAULT_TIMINGS, ...this.opts.timings },
      preferWired: () => ctx.config.get().network.preferWired,
      savedWifi: () => ctx.secrets.get().wifi ?? null,
      target: () => this.target(),
      cloudConnected: () => {
        const cloud = (ctx.state.get() as { cloud?: { connected?: unknown } }).cloud;
        return typeof cloud?.connected === 'boolean' ? cloud.connected : undefined;
      },
      graceMs: () => ctx.config.get().network.offlineGraceSeconds * 1000,
      onDecision: (summary, decision) => this.onDecision(summary, decision),
      onJoined: (ssid) => this.known.add(ssid),
    });

    this.registerCommands();
    ctx.factoryReset.register(this, 'network.wifi', () => this.forgetWifi());
    this.unsubscribe = ctx.state.subscribe(this, (_s, changed) => {
      if (changed.has('cloud')) this.controller?.schedule();
    });
    this.unConfig = ctx.config.onChange(this, (_c, paths) => {
      if (paths.some((p) => p.startsWith('network.') || p === 'cloud.url')) this.controller?.schedule();
    });
    this.controller.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unConfig?.();
    this.controller?.stop();
    await this.provisioning.catch(() => undefined);
    await this.procs?.stopAll();
    this.scanner?.stop();
  }

  /** The QR scanner's counters (frames decoded, dropped), for tests and diagnostics. */
  qrStats(): { running: boolean; frames: number; dropped: number } {
    return { running: this.scanner?.running ?? false, frames: this.scanner?.frames ?? 0, dropped: this.scanner?.dropped ?? 0 };
  }

  /**
   * Save new credentials (and the binding token), then join: from a QR code or the command.
   * Replacing working credentials by command is a trial: the new network is joined first, and if
   * that fails the camera goes back to the old one and nothing is saved — a wrong (or hostile)
   * provision must not strand a camera that hangs 3 m up.
   */
  provision(args: z.output<typeof ProvisionArgs>, via: 'qr' | 'command'): Promise<{ ssid: string; saved: true }> {
    const run = this.provisioning.then(async () => {
      const { ctx } = this;
      const old = ctx.secrets.get().wifi;
      if (via === 'command' && old && (old.ssid !== args.ssid || old.psk !== args.psk)) await this.trialJoin(args, old);
      await ctx.secrets.update((prev) => ({
        ...prev,
        wifi: { ssid: args.ssid, psk: args.psk },
        binding: { token: args.bindingToken, boundAt: ctx.clock.now() },
      }));
      this.qrNote = undefined;
      this.log.info({ ssid: args.ssid, via }, 'Wi-Fi credentials and binding saved');
      if (old && old.ssid !== args.ssid && this.wifi) {
        // One profile at a time: the replaced network's OS profile goes now, not at factory reset.
        await this.wifi.forget(old.ssid).catch((err: unknown) => this.log.warn({ ssid: old.ssid, err: errorMessage(err) }, 'could not forget the replaced Wi-Fi network'));
        this.known.delete(old.ssid);
      }
      ctx.bus.emit('camera.event', { id: randomUUID(), ts: ctx.clock.now(), kind: 'system', type: 'network.provisioned', data: { ssid: args.ssid, via } });
      this.controller?.credentialsChanged();
      return { ssid: args.ssid, saved: true as const };
    });
    this.provisioning = run.catch(() => undefined);
    return run;
  }

  private async trialJoin(next: { ssid: string; psk: string }, old: { ssid: string; psk: string }): Promise<void> {
    const wifi = this.wifi;
    if (!wifi) return;
    this.log.info({ ssid: next.ssid, keeping: old.ssid }, 'trying the new Wi-Fi network before replacing the saved one');
    try {
      await wifi.connect(next.ssid, next.psk);
    } catch (err) {
      this.log.warn({ ssid: next.ssid, err: errorMessage(err) }, 'new Wi-Fi network not joined; staying on the saved one');
      await wifi.connect(old.ssid, old.psk).catch((e: unknown) => this.log.warn({ ssid: old.ssid, err: errorMessage(e) }, 'could not rejoin the saved Wi-Fi network'));
      this.controller?.schedule();
      throw new CamdError('failed', `could not join "${next.ssid}" (${errorMessage(err)}); nothing was changed, the camera stays on "${old.ssid}"`, 'ssid');
    }
  }

  /** The broker to check; null for the factory placeholder (`*.invalid` never resolves, RFC 6761). */
  private target(): CheckTarget | null {
    try {
      const t = targetFromUrl(this.ctx.config.get().cloud.url);
      return /(^|\.)invalid\.?$/i.test(t.host) ? null : t;
    } catch {
      return null;
    }
  }

  private onDecision(summary: NetworkSummary, decision: Decision): void {
    this.last = { summary, provisioning: decision.provisioning };
    this.publishNetwork();
    if (this.stopped) return;
    if (decision.provisioning && !this.scanner?.running) this.scanner?.start();
    else if (!decision.provisioning && this.scanner?.running) this.scanner.stop();
  }

  /** state.network: the controller's last round, the refused QR code's reason, the QR scanner's status. */
  private publishNetwork(): void {
    if (!this.last) return;
    const { summary, provisioning } = this.last;
    const qr = this.scanner?.status ?? 'off';
    const next: NetworkSummary = {
      ...summary,
      ...(provisioning && this.qrNote ? { reason: [summary.reason, `last QR code refused: ${this.qrNote}`].filter(Boolean).join('; ') } : {}),
      ...(qr !== 'off' ? { qrScanner: qr } : {}),
    };
    const text = JSON.stringify(next);
    if (text !== this.published) {
      const prev = this.ctx.state.get().network;
      this.published = text;
      this.ctx.state.set('network', next);
      if (prev.phase !== next.phase || prev.reason !== next.reason || prev.active !== next.active) {
        this.log.info({ phase: next.phase, reason: next.reason, active: next.active }, 'network state');
      }
    }
  }

  private onQr(text: string): void {
    if (text === this.lastQr) return;
    this.lastQr = text;
    const parsed = parseWifiQr(text);
    if (!parsed.ok) {
      // Any QR code in view is decoded; only Wi-Fi ones deserve the owner's attention.
      if (text.startsWith('WIFI:')) {
        this.qrNote = parsed.error;
        this.log.warn({ error: parsed.error }, 'Wi-Fi QR code refused');
        this.controller?.schedule();
      } else this.log.debug({ length: text.length }, 'ignored a QR code that is not a Wi-Fi code');
      return;
    }
    this.log.info({ ssid: parsed.value.ssid }, 'Wi-Fi QR code read');
    this.provision(parsed.value, 'qr').catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'provisioning from QR code failed'));
  }

  private async forgetWifi(): Promise<void> {
    const wifi = this.wifi;
    if (!wifi) return;
    const failed: string[] = [];
    await wifi.disconnect().catch(() => undefined);
    for (const ssid of this.known) {
      try {
        await wifi.forget(ssid);
        this.known.delete(ssid);
      } catch (err) {
        failed.push(`${ssid}: ${errorMessage(err)}`);
      }
    }
    if (failed.length) throw new Error(`could not forget Wi-Fi network(s): ${failed.join('; ')}`);
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'network.provision',
      // A bound camera's Wi-Fi and binding are the owner's: the cloud alone may not replace them.
      access: 'presence',
      summary: 'save Wi-Fi credentials and the cloud binding token, then join (wired-first setups)',
      args: ProvisionArgs,
      handler: (args) => this.provision(args, 'command'),
    });
    const sim = this.sim;
    if (!sim) return;
    const ifaces = z.enum([ctx.board.network.wiredInterface, ctx.board.network.wifiInterface]);
    ctx.commands.register(this, {
      name: 'sim.link',
      access: 'local',
      summary: '(sim board) plug/unplug a link; route=false: carrier without a router/DHCP',
            args: z.object({ iface: ifaces, carrier: z.boolean(), route: z.boolean().optional() }).strict(),
      handler: ({ iface, carrier, route }) => {
        sim.setLink(iface, carrier, route);
        return sim.status();
      },
    });
    ctx.commands.register(this, {
      name: 'sim.wifi',
      access: 'local',
      summary: '(sim board) set the Wi-Fi access points in range; without args: the sim radio status',
            args: z
        .object({
          accessPoints: z
            .array(z.object({ ssid: z.string().min(1).max(32), psk: z.string().min(8).max(63), quality: z.number().int().min(0).max(100).default(70) }).strict())
            .max(32)
            .optional(),
        })
        .strict(),
      handler: ({ accessPoints }) => {
        if (accessPoints) sim.setAccessPoints(accessPoints);
        return sim.status();
      },
    });
  }
}

export const networkService = (ctx: Context): Service => new NetworkService(ctx);
