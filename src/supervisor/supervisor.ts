import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { Board } from '../../board/schema.js';
import { openHardware, type Hardware, type HardwareOptions } from '../../drivers/hardware.js';
import { SimWallClock, systemClock, type Clock } from '../core/clock.js';
import { createLogging, type LogLevel, type LogSetup } from '../core/log.js';
import { ensureDir, writeFileAtomic } from '../core/atomic-file.js';
import { errorMessage } from '../core/errors.js';
import { CommandRegistry, type Refusal } from '../commands/registry.js';
import { ConfigStore } from '../config/store.js';
import { SecretsStore } from '../config/secrets.js';
import { EventBus } from '../state/bus.js';
import { initialState, StateStore, type ServiceHealth } from '../state/store.js';
import { FactoryReset } from './factory-reset.js';
import { ChildRunner } from './runner.js';
import { SdNotify } from './sd-notify.js';
import type { Context, Paths, Service, ServiceFactory } from './service.js';

export interface SupervisorOptions {
  board: Board;
  boardFile: string;
  services: ServiceFactory[];
  clock?: Clock;
  /** Overrides the board's paths (tests run each daemon in its own temp dir). */
  dataDir?: string;
  runDir?: string;
  cardMount?: string;
  /** Log level from the command line wins over the config's. */
  logLevel?: LogLevel;
  /** Where log lines go; null = only the in-memory ring (tests). */
  logDestination?: NodeJS.WritableStream | null;
  hardware?: HardwareOptions;
  env?: NodeJS.ProcessEnv;
  /** Service names not to start (bisecting a problem on a dev kit, measuring footprints). */
  disabled?: readonly string[];
}

export type Outcome = { action: 'exit'; code: number; reason: string } | { action: 'restart'; reason: string };

/**
 * Owns one boot of the daemon: boot → running → shutdown. Builds the context, starts the
 * services one by one (a service that fails to start is logged and shown in the state, the rest
 * go on), and stops them in reverse order with every output off.
 */
export class Supervisor {
  readonly clock: Clock;
  readonly logging: LogSetup;
  readonly state: StateStore;
  readonly bus: EventBus;
  readonly commands: CommandRegistry;
  readonly config: ConfigStore;
  readonly secrets: SecretsStore;
  readonly paths: Paths;
  readonly factoryReset: FactoryReset;
  hardware!: Hardware;
  private context!: Context;
  private readonly started: Service[] = [];
  private readonly notify: SdNotify;
  private outcomeResolve!: (o: Outcome) => void;
  readonly done: Promise<Outcome>;
  private stopping: Promise<void> | undefined;
  private readonly log;

  constructor(private readonly opts: SupervisorOptions) {
    this.clock = opts.clock ?? (opts.board.backend === 'sim' ? new SimWallClock() : systemClock);
    this.logging = createLogging({ level: opts.logLevel ?? 'info', destination: opts.logDestination });
    this.log = this.logging.forComponent('supervisor');
    const { board } = opts;
    const runDir = opts.runDir ?? board.paths.runDir;
    this.paths = {
      dataDir: opts.dataDir ?? board.paths.dataDir,
      runDir,
      cardMount: opts.cardMount ?? board.storage.cardMount,
      socket: join(runDir, 'camd.sock'),
    };
    this.state = new StateStore(initialState(0, randomUUID(), this.clock.now()));
    this.bus = new EventBus(this.logging.forComponent('bus'));
    this.commands = new CommandRegistry(this.logging.forComponent('commands'));
    this.commands.setPolicy({ presence: () => this.presenceProven(), refused: (r) => this.refused(r) });
    this.config = new ConfigStore(join(this.paths.dataDir, 'config.json'), this.logging.forComponent('config'), board.configDefaults);
    this.secrets = new SecretsStore(join(this.paths.dataDir, 'secrets.json'), this.logging.forComponent('secrets'));
    this.factoryReset = new FactoryReset(this.logging.forComponent('factory-reset'));
    this.notify = new SdNotify(opts.env ?? process.env, this.clock, this.logging.forComponent('sd-notify'));
    this.done = new Promise((resolve) => (this.outcomeResolve = resolve));
  }

  get ctx(): Context {
    return this.context;
  }

  /**
   * Someone is at the camera: a short RESET press opened the presence window, or the camera is in
   * setup (no cloud binding yet, or provisioning mode) — then whoever reaches it is setting it up.
   */
  private presenceProven(): boolean {
    const s = this.state.get();
    const until = s.presence.until;
    if (until !== null && until > this.clock.now()) return true;
    return s.network.phase === 'provisioning' || !this.secrets.summary().binding;
  }

  /** Every refusal is an event too (the log line is the registry's), so the owner sees attempts. */
  private refused(r: Refusal): void {
    this.bus.emit('camera.event', {
      id: randomUUID(),
      ts: this.clock.now(),
      kind: 'security',
      type: 'request.forbidden',
      data: { source: r.source, command: r.command, rule: r.rule, ...(r.path !== undefined && { path: r.path }) },
    });
  }

  async start(): Promise<void> {
    const t0 = performance.now();
    const { board } = this.opts;
    // Data holds credentials: owner-only. The run dir holds the control socket: owner-only too.
    await ensureDir(this.paths.dataDir, 0o700);
    await ensureDir(this.paths.runDir, 0o700);
    await fs.chmod(this.paths.dataDir, 0o700);
    await fs.chmod(this.paths.runDir, 0o700);
    const bootCount = await this.bumpBootCount();
    this.state.set('bootCount', bootCount);

    const config = await this.config.load();
    if (!this.opts.logLevel) this.logging.setLevel(config.log.level);
    await this.secrets.load();
    this.config.onChange((cfg, paths) => {
      if (!this.opts.logLevel && paths.includes('log.level')) this.logging.setLevel(cfg.log.level);
      this.publishConfigStatus();
      this.bus.emit('config.changed', { paths, source: 'config' });
    });
    this.publishConfigStatus();
    this.factoryReset.register(this, 'config', async () => void (await this.config.reset('factory-reset')));
    this.factoryReset.register(this, 'secrets', () => this.secrets.wipe());

    this.hardware = await openHardware(board, {
      clock: this.clock,
      log: (c) => this.logging.forComponent(c),
      ...this.opts.hardware,
    });
    for (const [part, reason] of Object.entries(this.hardware.failures)) {
      // A part that will not open is a camera exception, not a reason to stop the daemon.
      this.state.raiseFault(`hardware.${part}`, { kind: 'camera', component: part, message: String(reason) }, this.clock.now());
      this.log.error({ part, reason }, 'device part failed to open');
    }

    this.context = {
      board,
      boardFile: this.opts.boardFile,
      paths: this.paths,
      clock: this.clock,
      logging: this.logging,
      log: (c) => this.logging.forComponent(c),
      state: this.state,
      bus: this.bus,
      config: this.config,
      secrets: this.secrets,
      commands: this.commands,
      hardware: this.hardware,
      factoryReset: this.factoryReset,
      lifecycle: {
        requestReboot: (reason) => void this.reboot(reason),
        requestShutdown: (reason, code) => void this.shutdown(reason, code ?? 0),
      },
      spawnChild: (spec) =>
        new ChildRunner(spec, { clock: this.clock, log: this.logging.forComponent(`child:${spec.name}`), state: this.state }),
      ports: {},
    };

    for (const factory of this.opts.services) {
      if (this.stopping) break;
      let service: Service | undefined;
      try {
        service = factory(this.context);
        if (this.opts.disabled?.includes(service.name)) {
          this.setServiceHealth(service.name, 'disabled');
          this.log.warn({ service: service.name }, 'service disabled on the command line');
          continue;
        }
        this.setServiceHealth(service.name, 'starting');
        await service.start();
        this.started.push(service);
        this.setServiceHealth(service.name, 'running');
      } catch (err) {
        const name = service?.name ?? factory.name ?? 'unknown';
        this.log.error({ service: name, err: errorMessage(err) }, 'service failed to start');
        this.setServiceHealth(name, 'failed', errorMessage(err));
        this.state.raiseFault(`service.${name}`, { kind: 'camera', component: name, message: errorMessage(err) }, this.clock.now());
        // It may have registered things before failing: release them so a half-started service leaves nothing behind.
        if (service) await this.stopService(service);
      }
    }
    if (this.stopping) return;
    this.state.set('lifecycle', 'running');
    const bootMs = Math.round(performance.now() - t0);
    this.log.info({ bootMs, bootCount, board: board.name, services: this.started.map((s) => s.name) }, 'camd running');
    await this.notify.ready(`running (boot ${bootCount})`);
    this.notify.startWatchdog(() => this.state.get().lifecycle === 'running');
  }

  /** SIGTERM/SIGINT path: everything off, files flushed, exit code. */
  shutdown(reason: string, code = 0): Promise<void> {
    return this.stopAll(reason).then(() => this.outcomeResolve({ action: 'exit', code, reason }));
  }

  /** After a factory reset or on command: restart in place (sim) or reboot the board. */
  async reboot(reason: string): Promise<void> {
    const how = this.opts.board.system.reboot;
    await this.stopAll(reason);
    if (how === 'self') {
      this.outcomeResolve({ action: 'restart', reason });
      return;
    }
    const [cmd, ...args] = how;
    await new Promise<void>((resolve) =>
      execFile(cmd!, args, (err) => {
        if (err) this.log.error({ err: err.message, cmd: how }, 'reboot command failed');
        resolve();
      }),
    );
    // If the board is still alive, exit non-zero so systemd restarts the daemon at least.
    this.outcomeResolve({ action: 'exit', code: 75, reason });
  }

  private stopAll(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, 'stopping');
      this.state.set('lifecycle', 'stopping');
      this.notify.stopWatchdog();
      await this.notify.stopping();
      for (const service of [...this.started].reverse()) await this.stopService(service);
      this.started.length = 0;
      if (this.hardware) {
        try {
          await this.hardware.allOff();
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'could not turn every output off');
        }
        await this.hardware.close();
      }
      this.state.set('lifecycle', 'stopped');
      this.log.info({ reason }, 'stopped');
      this.logging.root.flush();
    })();
    return this.stopping;
  }

  private async stopService(service: Service): Promise<void> {
    try {
      await service.stop();
      this.setServiceHealth(service.name, 'stopped');
    } catch (err) {
      this.log.error({ service: service.name, err: errorMessage(err) }, 'service failed to stop cleanly');
    }
    this.bus.removeOwner(service);
    this.state.removeOwner(service);
    this.config.removeOwner(service);
    this.commands.removeOwner(service);
    this.factoryReset.removeOwner(service);
  }

  private setServiceHealth(name: string, status: ServiceHealth['status'], error?: string): void {
    this.state.update('services', (prev) => ({
      ...prev,
      [name]: error ? { status, error, since: this.clock.now() } : { status, since: this.clock.now() },
    }));
  }

  private publishConfigStatus(): void {
    const status = this.config.status();
    this.state.set('config', { ...status, secretsError: this.secrets.error() });
  }

  private async bumpBootCount(): Promise<number> {
    const file = join(this.paths.dataDir, 'boot-count');
    let n = 0;
    try {
      n = Number.parseInt(await fs.readFile(file, 'utf8'), 10) || 0;
    } catch {
      // First boot, or the file was removed: start over.
    }
    await writeFileAtomic(file, String(n + 1), 0o600);
    return n + 1;
  }
}
