import type { Board } from '../board/schema.js';
import type { PartName } from './devices/types.js';
import { HardwareError } from './errors.js';
import { openGpiodChip, type GpiodGpioChip } from './gpio/gpiod.js';
import { openOnoffChip } from './gpio/onoff.js';
import type { GpioChip } from './gpio/types.js';
import { openI2cDevBus } from './i2c/i2c-bus.js';
import type { I2cBus } from './i2c/types.js';
import { openSerialPortLink } from './serial/serialport.js';
import type { SerialLink } from './serial/types.js';
import { SimBoard, type SimReceiver } from './sim-board.js';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';

/** What the hardware layer is given by its host (defined here, beside the backends that use it first). */
export interface HardwareContext {
  clock: Clock;
  log: (component: string) => Logger;
}

export interface HardwareOptions {
  /**
   * Sim boards only: parts that fail to open the way a dead part would: their GPIO line refuses
   * to open, the light sensor NACKs, a PTZ receiver stays silent (which costs one
   * board.ptz.replyTimeoutMs on the clock at open: advance fake timers for it).
   */
  simFailParts?: PartName[];
  timelineCapacity?: number;
}


/**
 * The buses the parts are opened on, chosen by the board file: the sim twins or the real
 * backends. Buses open lazily and once; a bus that fails fails only the parts on it.
 */
export interface Backends {
  sim?: SimBoard;
  /** Throws the chip's open error (e.g. no sysfs GPIO) to every part that asks. */
  gpio(): GpioChip;
  i2c(bus: string): Promise<I2cBus>;
  serial(port: string): Promise<SerialLink>;
  /** Runs before the buses close (e.g. a protocol layer on a serial link). */
  onClose(fn: () => unknown): void;
  close(): Promise<void>;
}

export async function openBackends(board: Board, opts: HardwareContext & HardwareOptions): Promise<Backends> {
  return board.backend === 'sim' ? simBackends(board, opts) : realBackends(board, opts);
}

/** How each part is made to fail on the sim: through its own bus, like a dead part. */
function simFaults(board: Board, parts: readonly PartName[]) {
  const failLines: string[] = [];
  const absentI2cDevices: string[] = [];
  const absentReceivers: SimReceiver[] = [];
  const lineOf: Partial<Record<PartName, string>> = {
    statusLed: 'ledRed',
    strobeRed: 'strobeRed',
    strobeBlue: 'strobeBlue',
    siren: 'siren',
    spotlight: 'spotlightEnable',
    resetButton: 'reset',
    irCut: 'irCutDay',
  };
  for (const part of parts) {
    const line = lineOf[part];
    if (line) failLines.push(line);
    else if (part === 'lightSensor') {
      for (const [name, d] of Object.entries(board.i2c.devices)) if (d.model === 'bh1750') absentI2cDevices.push(name);
    } else if (part === 'ptz' || part === 'widePan') absentReceivers.push(part);
  }
  return { failLines, absentI2cDevices, absentReceivers };
}

function simBackends(board: Board, opts: HardwareContext & HardwareOptions): Backends {
  const sim = new SimBoard(board, { clock: opts.clock, timelineCapacity: opts.timelineCapacity, ...simFaults(board, opts.simFailParts ?? []) });
  const closers: (() => unknown)[] = [];
  return {
    sim,
    gpio: () => sim.gpio,
    async i2c(bus) {
      const b = sim.i2c[bus];
      if (!b) throw new HardwareError('ENOENT', `I2C bus ${bus} is not in the board file`);
      return b;
    },
    async serial(port) {
      const p = sim.serial[port];
      if (!p) throw new HardwareError('ENOENT', `serial port ${port} is not in the board file`);
      return p.host;
    },
    onClose: (fn) => closers.push(fn),
    async close() {
      await runAll(closers.splice(0));
      sim.close();
    },
  };
}

async function realBackends(board: Board, opts: HardwareContext & HardwareOptions): Promise<Backends> {
  const log = opts.log('hardware');
  if (opts.simFailParts?.length) log.warn({ simFailParts: opts.simFailParts }, 'simFailParts ignored on a hardware board');
  const gpioLog = opts.log('gpio');
  let chip: GpioChip | undefined;
  let gpiod: GpiodGpioChip | undefined;
  let chipError: Error | undefined;
  try {
    if (board.gpio.backend === 'gpiod') {
      chip = gpiod = await openGpiodChip({
        chip: board.gpio.chip,
        clock: opts.clock,
        onError: (name, err) => gpioLog.warn({ line: name, err: err.message }, 'GPIO line holder ended; restarting it'),
      });
      gpioLog.info({ backend: 'gpiod', chip: board.gpio.chip, diesWithDaemon: gpiod.diesWithDaemon }, 'GPIO character device');
    } else {
      chip = await openOnoffChip({ onWatchError: (name, err) => gpioLog.warn({ line: name, err: err.message }, 'GPIO watch error') });
    }
  } catch (err) {
    chipError = err instanceof Error ? err : new Error(String(err));
  }
  const buses = new Map<string, Promise<I2cBus>>();
  const ports = new Map<string, Promise<SerialLink>>();
  const closers: (() => unknown)[] = [];
  return {
    gpio() {
      if (!chip) throw chipError ?? new HardwareError('ENODEV', 'no GPIO chip');
      return chip;
    },
    i2c(name) {
      let bus = buses.get(name);
      if (!bus) {
        const def = board.i2c.buses[name];
        bus = def ? openI2cDevBus(name, def.number) : Promise.reject(new HardwareError('ENOENT', `I2C bus ${name} is not in the board file`));
        buses.set(name, bus);
      }
      return bus;
    },
    serial(name) {
      let port = ports.get(name);
      if (!port) {
        const def = board.serial.ports[name];
        const serialLog = opts.log('serial');
        port = def
          ? openSerialPortLink(name, def, { onError: (err) => serialLog.warn({ port: name, err: err.message }, 'serial port error') })
          : Promise.reject(new HardwareError('ENOENT', `serial port ${name} is not in the board file`));
        ports.set(name, port);
      }
      return port;
    },
    onClose: (fn) => closers.push(fn),
    async close() {
      await runAll(closers.splice(0));
      await runAll([...ports.values()].map((p) => async () => (await p).close()));
      await runAll([...buses.values()].map((b) => async () => (await b).close()));
      // The gpiod chip's lines are child processes: wait until each has exited (line released).
      if (gpiod) await gpiod.closeAndWait();
      else chip?.close();
    },
  };
}

async function runAll(fns: (() => unknown)[]): Promise<void> {
  for (const fn of fns) {
    try {
      await fn();
    } catch {
      // Closing is best effort: a bus that failed to open has nothing to close.
    }
  }
}
