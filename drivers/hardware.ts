import type { Board } from '../board/schema.js';
import { openBackends, type Backends } from './backends.js';
import { TwoLineStatusLed } from './devices/status-led.js';
import { openStrobe } from './devices/strobe.js';
import { openSiren } from './devices/siren.js';
import { PwmSpotlight } from './devices/spotlight.js';
import { Pca9685 } from './devices/pca9685.js';
import { GpioResetButton } from './devices/reset-button.js';
import { PulsedIrCut } from './devices/ir-cut.js';
import { Bh1750LightSensor } from './devices/light-sensor.js';
import { PelcoDBus, PelcoDMotor } from './devices/ptz-motor.js';
import type { PartName, Parts } from './devices/types.js';
import { HardwareError } from './errors.js';
import type { DigitalIn, DigitalOut } from './gpio/types.js';
import type { SimBoard } from './sim-board.js';
import type { Timeline } from './timeline.js';

import type { HardwareContext, HardwareOptions } from './backends.js';

export type { HardwareContext, HardwareOptions };

export interface Hardware {
  parts: Parts;
  /** Why each part that did not open is unavailable; the rest work. */
  failures: Partial<Record<PartName, string>>;
  sim?: SimBoard;
  timeline?: Timeline;
  /** Every output off (LED, strobes, siren, spotlight) and the motors stopped; for shutdown. */
  allOff(): Promise<void>;
  /** Every part's state and every open line's logical level, for `camctl status`. */
  outputs(): Record<string, unknown>;
  close(): Promise<void>;
}

type OutputKey = Exclude<keyof Board['outputs'], 'spotlightPwm'>;
type Closer = () => unknown;

/** The lines and resources one part opened, released together if the part fails half-way. */
class PartScope {
  readonly closers: Closer[] = [];
  constructor(
    private readonly board: Board,
    private readonly backends: Backends,
    private readonly lines: Map<string, DigitalOut | DigitalIn>,
  ) {}

  out(key: OutputKey): DigitalOut {
    const def = this.board.outputs[key];
    const line = this.backends.gpio().openOutput(key, def.line, { activeLow: def.activeLow, bias: def.bias, chip: def.chip });
    this.track(key, line);
    return line;
  }

  input(key: keyof Board['inputs']): DigitalIn {
    const def = this.board.inputs[key];
    const line = this.backends.gpio().openInput(key, def.line, { activeLow: def.activeLow, bias: def.bias, chip: def.chip, debounceMs: def.debounceMs });
    this.track(key, line);
    return line;
  }

  onClose(fn: Closer): void {
    this.closers.push(fn);
  }

  async release(): Promise<void> {
    for (const fn of this.closers.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Releasing is best effort: the part is already given up.
      }
    }
  }

  private track(key: string, line: DigitalOut | DigitalIn): void {
    this.lines.set(key, line);
    this.closers.push(() => {
      this.lines.delete(key);
      line.close();
    });
  }
}

/**
 * Opens every part the board file lists, each on its own: a part that fails is recorded in
 * `failures` with the reason and the others still open, so one dead siren never keeps the
 * camera from recording. Never throws for a single part.
 */
export async function openHardware(board: Board, opts: HardwareContext & HardwareOptions): Promise<Hardware> {
  const { clock } = opts;
  const log = opts.log('hardware');
  const backends = await openBackends(board, opts);
  const parts: Parts = {};
  const failures: Partial<Record<PartName, string>> = {};
  const lines = new Map<string, DigitalOut | DigitalIn>();
  const scopes: PartScope[] = [];

  async function attempt<K extends PartName>(name: K, open: (s: PartScope) => Parts[K] | Promise<Parts[K]>): Promise<void> {
    const scope = new PartScope(board, backends, lines);
    try {
      parts[name] = await open(scope);
      scopes.push(scope);
    } catch (err) {
      failures[name] = err instanceof Error ? err.message : String(err);
      await scope.release();
    }
  }

  let pelco: Promise<PelcoDBus> | undefined;
  const ptzBus = (): Promise<PelcoDBus> =>
    (pelco ??= backends.serial(board.ptz.port).then((link) => {
      const bus = new PelcoDBus(link, { clock, replyTimeoutMs: board.ptz.replyTimeoutMs, log: opts.log('pelco-d') });
      backends.onClose(() => bus.close());
      return bus;
    }));
  // A receiver that does not answer at boot is reported, not used: its position would be unknown.
  const motor = async (address: number, tilt: boolean): Promise<PelcoDMotor> => {
    const m = new PelcoDMotor(await ptzBus(), address, { tilt });
    await m.queryPosition();
    return m;
  };

  await attempt('statusLed', (s) => new TwoLineStatusLed(s.out('ledRed'), s.out('ledBlue')));
  await attempt('strobeRed', (s) => openStrobe(s.out('strobeRed')));
  await attempt('strobeBlue', (s) => openStrobe(s.out('strobeBlue')));
  await attempt('siren', (s) => openSiren(s.out('siren')));
  await attempt('spotlight', async (s) => {
    const enable = s.out('spotlightEnable');
    const pwm = board.outputs.spotlightPwm;
    return PwmSpotlight.open(enable, new Pca9685(await backends.i2c(pwm.bus), pwm.address), pwm.channel, pwm.frequencyHz);
  });
  await attempt('resetButton', (s) => {
    const button = new GpioResetButton(s.input('reset'));
    s.onClose(() => button.close());
    return button;
  });
  await attempt('irCut', (s) => new PulsedIrCut(s.out('irCutDay'), s.out('irCutNight'), clock));
  await attempt('lightSensor', async (s) => {
    const def = Object.values(board.i2c.devices).find((d) => d.model === 'bh1750');
    if (!def) throw new HardwareError('ENOENT', 'the board file lists no bh1750 in i2c.devices');
    const sensor = await Bh1750LightSensor.open(await backends.i2c(def.bus), def.address, clock);
    s.onClose(() => sensor.close());
    return sensor;
  });
  await attempt('ptz', () => motor(board.ptz.ptzAddress, true));
  await attempt('widePan', () => motor(board.ptz.widePanAddress, false));

  log.info({ opened: Object.keys(parts), failed: failures }, 'hardware opened');

  let closing: Promise<void> | undefined;
  return {
    parts,
    failures,
    sim: backends.sim,
    timeline: backends.sim?.timeline,
    allOff: () => allOff(parts),
    outputs: () => outputsOf(parts, lines),
    close() {
      closing ??= (async () => {
        for (const scope of scopes.splice(0).reverse()) await scope.release();
        await backends.close();
      })();
      return closing;
    },
  };
}

async function allOff(parts: Parts): Promise<void> {
  const failed: string[] = [];
  const step = async (name: string, fn: (() => unknown) | undefined): Promise<void> => {
    if (!fn) return;
    try {
      await fn();
    } catch (err) {
      failed.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  // Every step is tried even if one fails: a stuck siren must not leave the spotlight on.
  await step('statusLed', parts.statusLed && (() => parts.statusLed!.set('off')));
  await step('strobeRed', parts.strobeRed && (() => parts.strobeRed!.set(false)));
  await step('strobeBlue', parts.strobeBlue && (() => parts.strobeBlue!.set(false)));
  await step('siren', parts.siren && (() => parts.siren!.set(false)));
  await step('spotlight', parts.spotlight && (() => parts.spotlight!.set(false)));
  await step('ptz', parts.ptz && (() => parts.ptz!.stop()));
  await step('widePan', parts.widePan && (() => parts.widePan!.stop()));
  if (failed.length > 0) throw new HardwareError('EIO', `could not turn everything off: ${failed.join('; ')}`);
}

function outputsOf(parts: Parts, lines: Map<string, DigitalOut | DigitalIn>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (parts.statusLed) out.statusLed = parts.statusLed.get();
  if (parts.strobeRed) out.strobeRed = parts.strobeRed.isOn();
  if (parts.strobeBlue) out.strobeBlue = parts.strobeBlue.isOn();
  if (parts.siren) out.siren = parts.siren.isOn();
  if (parts.spotlight) out.spotlight = parts.spotlight.state();
  if (parts.irCut) out.irCut = parts.irCut.get();
  if (parts.resetButton) out.resetButton = { pressed: parts.resetButton.isPressed() };
  const levels: Record<string, number> = {};
  for (const [name, line] of lines) levels[name] = line.read();
  out.lines = levels;
  return out;
}
