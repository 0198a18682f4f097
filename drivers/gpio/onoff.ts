import type { BinaryValue, Direction, Edge, Options } from 'onoff';
import { errnoOf, HardwareError, type HardwareErrorCode } from '../errors.js';
import type { DigitalIn, DigitalOut, GpioChip, InputOptions, Level, OutputOptions } from './types.js';
import { lineClosed, LineWatchers } from './watchers.js';

/**
 * GPIO through the `onoff` package, i.e. the legacy sysfs interface (/sys/class/gpio). The
 * kernel must be built with CONFIG_GPIO_SYSFS (deprecated upstream but still enabled on most
 * vendor BSP kernels, Rockchip's included) and the daemon user needs write access to the export
 * and value files (a udev rule or the `gpio` group). Lines are sysfs numbers: on Rockchip,
 * bank * 32 + group * 8 + index (GPIO3_C1 = 3 * 32 + 2 * 8 + 1 = 113).
 *
 * Sysfs exports outlive the process: after a crash the lines are still exported and onoff
 * simply reuses them, so a restart does not fail with EBUSY. The flip side is that the kernel
 * cannot tell two users in one process apart, so this chip refuses a second claim itself.
 */

/** The part of onoff's Gpio class this backend uses; injected so the mapping can be tested. */
export interface OnoffGpio {
  readSync(): BinaryValue;
  writeSync(value: BinaryValue): void;
  watch(callback: (err: Error | null | undefined, value: BinaryValue) => void): void;
  unwatchAll(): void;
  unexport(): void;
}
export type OnoffGpioCtor = new (gpio: number, direction: Direction, edge?: Edge, options?: Options) => OnoffGpio;

export interface OnoffChipOptions {
  /** Called when the kernel reports an error on a watched input (rare: the value file failed). */
  onWatchError?: (name: string, err: Error) => void;
}

export class OnoffGpioChip implements GpioChip {
  private readonly claimed = new Map<number, string>();
  private readonly handles = new Set<{ close(): void }>();

  constructor(
    private readonly Gpio: OnoffGpioCtor,
    private readonly opts: OnoffChipOptions = {},
  ) {}

  openOutput(name: string, line: number, opts: OutputOptions = {}): DigitalOut {
    const activeLow = opts.activeLow ?? false;
    let value: Level = opts.initial ?? 0;
    // The kernel applies "high"/"low" in `direction` to the raw pin, ignoring active_low, so the
    // initial level is converted here: the line comes up at the right level without a glitch.
    const physicalHigh = activeLow ? value === 0 : value === 1;
    const gpio = this.claim(name, line, () => new this.Gpio(line, physicalHigh ? 'high' : 'low', 'none', { activeLow }));
    let closed = false;
    const handle: DigitalOut = {
      name,
      line,
      write: (level) => {
        if (closed) throw lineClosed(line, name);
        if (level !== 0 && level !== 1) throw new HardwareError('EINVAL', `GPIO level must be 0 or 1, got ${String(level)}`);
        gpio.writeSync(level);
        value = level;
      },
      read: () => value,
      close: () => {
        if (closed) return;
        closed = true;
        this.handles.delete(handle);
        this.claimed.delete(line);
        try {
          gpio.writeSync(0);
        } finally {
          gpio.unexport();
        }
      },
    };
    this.handles.add(handle);
    return handle;
  }

  openInput(name: string, line: number, opts: InputOptions = {}): DigitalIn {
    const gpio = this.claim(name, line, () =>
      new this.Gpio(line, 'in', 'both', { activeLow: opts.activeLow ?? false, debounceTimeout: opts.debounceMs ?? 0 }),
    );
    // read() returns the last debounced level, not a fresh sample, so that it agrees with what
    // watchers were told (as the sim does); onoff may also repeat a level, which is filtered out.
    let value: Level = gpio.readSync();
    const watchers = new LineWatchers(line, name);
    gpio.watch((err, v) => {
      if (err) {
        this.opts.onWatchError?.(name, err);
        return;
      }
      if (v === value) return;
      value = v;
      watchers.notify(v);
    });
    const handle: DigitalIn = {
      name,
      line,
      read: () => value,
      watch: (listener) => watchers.watch(listener),
      close: () => {
        if (!watchers.close()) return;
        this.handles.delete(handle);
        this.claimed.delete(line);
        gpio.unwatchAll();
        gpio.unexport();
      },
    };
    this.handles.add(handle);
    return handle;
  }

  close(): void {
    for (const h of [...this.handles]) h.close();
  }

  private claim(name: string, line: number, open: () => OnoffGpio): OnoffGpio {
    const holder = this.claimed.get(line);
    if (holder !== undefined) throw new HardwareError('EBUSY', `GPIO line ${line} (${name}) is busy: already claimed as "${holder}"`);
    let gpio: OnoffGpio;
    try {
      gpio = open();
    } catch (err) {
      throw gpioOpenError(name, line, err);
    }
    this.claimed.set(line, name);
    return gpio;
  }
}

/** Turns what the sysfs files answered into a message that names the line and the likely fix. */
export function gpioOpenError(name: string, line: number, err: unknown): HardwareError {
  const errno = errnoOf(err);
  const what = `GPIO line ${line} (${name})`;
  const reasons: Record<string, [HardwareErrorCode, string]> = {
    EBUSY: ['EBUSY', 'is busy: claimed by a kernel driver (check the device tree) or another process'],
    EACCES: ['EACCES', 'permission denied on /sys/class/gpio: add a udev rule or run camd in the gpio group'],
    EPERM: ['EACCES', 'permission denied on /sys/class/gpio: add a udev rule or run camd in the gpio group'],
    EINVAL: ['EINVAL', 'is not a valid sysfs GPIO number on this SoC'],
    ENOENT: ['ENODEV', 'cannot be exported: /sys/class/gpio is missing (kernel without CONFIG_GPIO_SYSFS?)'],
  };
  const [code, text] = (errno && reasons[errno]) || ['EIO', `failed to open: ${err instanceof Error ? err.message : String(err)}`];
  return new HardwareError(code, `${what} ${text}`, { cause: err });
}

/** Loads onoff (and its epoll addon) only when a board asks for it, so the sim runs anywhere. */
export async function openOnoffChip(opts: OnoffChipOptions = {}): Promise<OnoffGpioChip> {
  const { Gpio } = await import('onoff');
  if (!Gpio.accessible) {
    throw new HardwareError(
      'ENODEV',
      'sysfs GPIO unavailable: /sys/class/gpio/export cannot be opened for writing (kernel needs CONFIG_GPIO_SYSFS; camd needs write access)',
    );
  }
  return new OnoffGpioChip(Gpio, opts);
}
