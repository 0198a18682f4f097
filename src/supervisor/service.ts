import type { Logger } from 'pino';
import type { Board } from '../../board/schema.js';
import type { Hardware } from '../../drivers/hardware.js';
import type { Clock } from '../core/clock.js';
import type { LogSetup } from '../core/log.js';
import type { CommandRegistry } from '../commands/registry.js';
import type { ConfigStore } from '../config/store.js';
import type { SecretsStore } from '../config/secrets.js';
import type { EventBus } from '../state/bus.js';
import type { StateStore } from '../state/store.js';
import type { FactoryReset } from './factory-reset.js';
import type { ChildRunner, ChildSpec } from './runner.js';

/**
 * A service: constructors only store fields; work starts in start() and every timer, listener
 * and child is released in stop(). Services talk through the state store, the event bus and the
 * command registry, never by reaching into each other.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Paths {
  dataDir: string;
  runDir: string;
  cardMount: string;
  socket: string;
}

export interface Lifecycle {
  /** Factory reset already done or not: reboots the board (system.reboot) or restarts in place (sim). */
  requestReboot(reason: string): void;
  /** Stop everything and exit with the code (SIGTERM path). */
  requestShutdown(reason: string, code?: number): void;
}

/** Everything a service may use, built once by the supervisor. */
export interface Context {
  board: Board;
  boardFile: string;
  paths: Paths;
  clock: Clock;
  logging: LogSetup;
  log(component: string): Logger;
  state: StateStore;
  bus: EventBus;
  config: ConfigStore;
  secrets: SecretsStore;
  commands: CommandRegistry;
  hardware: Hardware;
  lifecycle: Lifecycle;
  /** Steps that erase the owner's data on a factory reset (config, secrets, outbox, card marker). */
  factoryReset: FactoryReset;
  /** The one way to run a child process (ffmpeg, nmcli…): logged stderr, restart backoff, health in state. */
  spawnChild(spec: ChildSpec): ChildRunner;
  /** Ports between services (see Ports). */
  ports: Ports;
}

/**
 * Typed ports one service offers the others where events and commands do not fit (a lease held
 * over many steps, e.g. the PTZ head for the 360° sweep). Empty here: each feature declares its
 * port by augmenting this interface next to its domain types, sets it in start() and deletes it
 * in stop(); a user checks it is there, so it never imports the providing service.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface Ports {}

export type ServiceFactory = (ctx: Context) => Service;
