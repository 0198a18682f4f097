import type { Board } from '../board/schema.js';
import { sleep, type Clock } from './clock.js';
import { PelcoDTwin } from './devices/pelco-d-twin.js';
import { SimGpioChip } from './gpio/sim.js';
import type { Level } from './gpio/types.js';
import { Bh1750Model } from './i2c/models/bh1750.js';
import { Pca9685Model } from './i2c/models/pca9685.js';
import { SimI2cBus, type I2cDeviceModel } from './i2c/sim.js';
import { createSimSerialPair, type SimSerialPair } from './serial/sim.js';
import { queuedWrites } from './serial/write-queue.js';
import { SimScene } from './sim-scene.js';
import { Timeline } from './timeline.js';

export type SimInputName = keyof Board['inputs'];
export type SimReceiver = 'ptz' | 'widePan';

export interface SimBoardOptions {
  clock: Clock;
  /** Shared with the caller; a new one (default capacity) otherwise. */
  timeline?: Timeline;
  timelineCapacity?: number;
  /** GPIO lines, by number or board name (`ledRed`), that refuse to open. */
  failLines?: Iterable<number | string>;
  /** Devices of board.i2c.devices, by name, left off their bus: they NACK. */
  absentI2cDevices?: Iterable<string>;
  /** Pelco-D receivers left off the RS-485 line: queries to them time out. */
  absentReceivers?: Iterable<SimReceiver>;
}

/**
 * The simulated board a `sim` board file describes: one GPIO chip, one I2C bus per bus with
 * the board's device models, a serial pair per port with the Pelco-D twins of both receivers on
 * the PTZ port, and one timeline recording all of it. Tests (and `camctl press-button` on the
 * sim daemon) drive it from outside, the way the world drives a real board.
 */
export class SimBoard {
  readonly timeline: Timeline;
  readonly gpio: SimGpioChip;
  readonly i2c: Readonly<Record<string, SimI2cBus>>;
  /** Device models by their board.i2c.devices name. */
  readonly i2cDevices: Readonly<Record<string, I2cDeviceModel>>;
  readonly serial: Readonly<Record<string, SimSerialPair>>;
  readonly twins: Readonly<Partial<Record<SimReceiver, PelcoDTwin>>>;
  /**
   * What the lenses see of the board's own lights (spotlight, strobes, IR-cut), rendered into
   * the capture tap's frames: the sim lenses play clips that cannot see them (sim-scene.ts).
   */
  readonly scene: SimScene;
  /** Cancels pending button releases on close, so no timer outlives the board. */
  private readonly closing = new AbortController();

  constructor(
    private readonly board: Board,
    private readonly opts: SimBoardOptions,
  ) {
    const { clock } = opts;
    this.timeline = opts.timeline ?? new Timeline(clock, { capacity: opts.timelineCapacity });
    this.gpio = new SimGpioChip({ clock, timeline: this.timeline, failLines: opts.failLines });

    const absent = new Set(opts.absentI2cDevices ?? []);
    const buses: Record<string, SimI2cBus> = {};
    for (const name of Object.keys(board.i2c.buses)) buses[name] = new SimI2cBus(name, this.timeline);
    const devices: Record<string, I2cDeviceModel> = {};
    for (const [name, def] of Object.entries(board.i2c.devices)) {
      const model = def.model === 'pca9685' ? new Pca9685Model() : new Bh1750Model(clock);
      devices[name] = model;
      if (!absent.has(name)) buses[def.bus]?.attach(def.address, model);
    }
    this.i2c = buses;
    this.i2cDevices = devices;

    const serial: Record<string, SimSerialPair> = {};
    for (const name of Object.keys(board.serial.ports)) serial[name] = createSimSerialPair(name, this.timeline);
    this.serial = serial;

    const silent = new Set(opts.absentReceivers ?? []);
    const twins: Partial<Record<SimReceiver, PelcoDTwin>> = {};
    const { ptz } = board;
    const line = serial[ptz.port];
    if (line) {
      // Both receivers hang on one bus end: their replies must queue, not collide.
      const shared = queuedWrites(line.device);
      if (!silent.has('ptz')) twins.ptz = new PelcoDTwin({ address: ptz.ptzAddress, clock, pan: ptz.pan, tilt: ptz.tilt });
      if (!silent.has('widePan')) twins.widePan = new PelcoDTwin({ address: ptz.widePanAddress, clock, pan: ptz.widePan });
      for (const twin of Object.values(twins)) twin.attach(shared);
    }
    this.twins = twins;
    this.scene = new SimScene(board, this.timeline, () => this.pwm());
  }

  /** The PWM controller behind the spotlight, if the board has it as a pca9685 device. */
  pwm(): Pca9685Model | undefined {
    const { bus, address } = this.board.outputs.spotlightPwm;
    return this.model(Pca9685Model, (d) => d.bus === bus && d.address === address);
  }

  /** The (first) BH1750 light sensor: set the scene with `setLux`. */
  lightSensor(): Bh1750Model | undefined {
    return this.model(Bh1750Model, (d) => d.model === 'bh1750');
  }

  /** Drives a board input to a logical level (1 = active), e.g. the reset button held. */
  setInput(name: SimInputName, level: Level): void {
    this.gpio.setInput(this.board.inputs[name].line, level);
  }

  /**
   * Holds an input active for `ms` on the clock, then releases it. Resolves on release (or when
   * the board closes first) and never rejects, so a caller may fire and forget.
   */
  press(name: SimInputName, ms: number): Promise<void> {
    this.setInput(name, 1);
    return sleep(this.opts.clock, ms, this.closing.signal).then(
      () => this.setInput(name, 0),
      () => undefined,
    );
  }

  close(): void {
    this.closing.abort();
    this.scene.close();
    for (const twin of Object.values(this.twins)) twin.detach();
    for (const pair of Object.values(this.serial)) {
      void pair.host.close();
      void pair.device.close();
    }
    for (const bus of Object.values(this.i2c)) void bus.close();
    this.gpio.close();
  }

  private model<T extends I2cDeviceModel>(
    kind: abstract new (...args: never[]) => T,
    match: (def: Board['i2c']['devices'][string]) => boolean,
  ): T | undefined {
    for (const [name, def] of Object.entries(this.board.i2c.devices)) {
      const m = this.i2cDevices[name];
      if (match(def) && m instanceof kind) return m;
    }
    return undefined;
  }
}
