import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssue } from './zod-issue.js';

/**
 * The board file: which pins, buses, devices, video sources and timings this hardware has.
 * One schema for every board; `sim.json` drives CI and development, `devkit.json` the dev kit.
 * A bad board file stops the daemon at start with the file, the JSON path and the problem.
 */
const int = (min: number, max: number) => z.number().int().min(min).max(max);

const GpioLine = z
  .object({
    /** Line offset on the chip (sysfs GPIO number for the onoff backend). */
    line: int(0, 4095),
    activeLow: z.boolean().default(false),
    /** gpiod backend: the line's chip when not `gpio.chip` (name, number, /dev path or label). */
    chip: z.string().min(1).optional(),
    /** gpiod backend: pull resistor set by the kernel; sysfs (onoff) cannot set one. */
    bias: z.enum(['as-is', 'disable', 'pull-up', 'pull-down']).default('as-is'),
  })
  .strict();

const GpioInput = GpioLine.extend({
  debounceMs: int(0, 1000).default(30),
}).strict();

const Pwm = z
  .object({
    bus: z.string().min(1),
    address: int(0x03, 0x77),
    channel: int(0, 15),
    frequencyHz: int(24, 1526).default(1000),
  })
  .strict();

const I2cBusDef = z
  .object({
    /** `/dev/i2c-N` bus number on real hardware. */
    number: int(0, 255),
  })
  .strict();

const I2cDeviceDef = z
  .object({
    bus: z.string().min(1),
    address: int(0x03, 0x77),
    model: z.enum(['pca9685', 'bh1750']),
  })
  .strict();

const SerialPortDef = z
  .object({
    path: z.string().min(1),
    baudRate: z.union([z.literal(2400), z.literal(4800), z.literal(9600), z.literal(19200), z.literal(38400)]),
    /** RS-485 half duplex: the transceiver's driver-enable follows RTS (kernel rs485 mode). */
    rs485: z.boolean().default(true),
  })
  .strict();

const Axis = z
  .object({
    /** Mechanical range in degrees; the end stops sit here. */
    minDeg: z.number().min(-360).max(360),
    maxDeg: z.number().min(-360).max(360),
    /** Fastest speed (Pelco-D speed 0x3F) in degrees per second. */
    maxSpeedDegS: z.number().positive().max(720),
    /** Position resolution of the controller: Pelco-D absolute positions are in 0.01°. */
    stepDeg: z.number().positive().max(1).default(0.01),
    homeDeg: z.number().min(-360).max(360).default(0),
  })
  .strict()
  .refine((a) => a.minDeg < a.maxDeg, { message: 'minDeg must be below maxDeg', path: ['minDeg'] })
  .refine((a) => a.homeDeg >= a.minDeg && a.homeDeg <= a.maxDeg, {
    message: 'homeDeg must lie within minDeg..maxDeg',
    path: ['homeDeg'],
  });

const VideoSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), path: z.string().min(1), loop: z.boolean().default(true) }).strict(),
  z.object({ kind: z.literal('v4l2'), device: z.string().min(1), inputFormat: z.string().default('h264') }).strict(),
  z.object({ kind: z.literal('rtsp'), url: z.string().min(1) }).strict(),
]);

const QualityProfile = z
  .object({
    width: int(160, 7680),
    height: int(120, 4320),
    fps: int(1, 60),
    bitrateKbps: int(64, 20000),
  })
  .strict();

const Lens = z
  .object({
    source: VideoSource,
    width: int(160, 7680),
    height: int(120, 4320),
    fps: z.number().positive().max(60),
    codec: z.enum(['h264', 'h265']).default('h264'),
    /** Quality profiles the app may choose from; `defaultProfile` must name one. */
    profiles: z.record(z.string().regex(/^[a-z0-9_-]+$/), QualityProfile),
    defaultProfile: z.string(),
  })
  .strict()
  .refine((l) => l.defaultProfile in l.profiles, { message: 'defaultProfile must name one of profiles', path: ['defaultProfile'] });

const AlsaDev = z
  .object({
    /** ALSA PCM name on the board (e.g. `hw:0,0`); on the sim a WAV file path the test reads back. */
    alsa: z.string().min(1).optional(),
    wavFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((a) => (a.alsa === undefined) !== (a.wavFile === undefined), { message: 'give exactly one of alsa or wavFile' });

export const BoardSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().min(1),
    model: z.string().min(1),
    /** `sim` uses the simulated GPIO/I2C/serial twins; `hardware` the real backends. */
    backend: z.enum(['sim', 'hardware']),
    identity: z.discriminatedUnion('source', [
      z
        .object({
          source: z.literal('inline'),
          serial: z.string().regex(/^[A-Z0-9]{9,16}$/),
          verificationCode: z.string().regex(/^[A-Z]{6}$/),
        })
        .strict(),
      z.object({ source: z.literal('file'), path: z.string().min(1) }).strict(),
    ]),
    gpio: z
      .object({
        /**
         * `gpiod` = the kernel's character device (/dev/gpiochipN) through Debian's gpiod tools;
         * `onoff` = legacy sysfs (/sys/class/gpio, CONFIG_GPIO_SYSFS); `sim` = simulated twin.
         */
        backend: z.enum(['sim', 'onoff', 'gpiod']),
        /** gpiod backend: the chip of lines that name none (gpiochip0, 0, /dev/gpiochip0 or a label). */
        chip: z.string().min(1).default('gpiochip0'),
      })
      .strict(),
    outputs: z
      .object({
        ledRed: GpioLine,
        ledBlue: GpioLine,
        strobeRed: GpioLine,
        strobeBlue: GpioLine,
        siren: GpioLine,
        /** Spotlight: an enable line plus PWM brightness on the I2C PWM controller. */
        spotlightEnable: GpioLine,
        spotlightPwm: Pwm,
        /** IR-cut filter: two lines into an H-bridge; a short pulse on one moves the filter. */
        irCutDay: GpioLine,
        irCutNight: GpioLine,
      })
      .strict(),
    inputs: z
      .object({
        reset: GpioInput,
        /** Ethernet carrier for the sim board; real boards read /sys/class/net/<if>/carrier. */
      })
      .strict(),
    i2c: z
      .object({
        backend: z.enum(['sim', 'i2c-bus']),
        buses: z.record(z.string(), I2cBusDef),
        devices: z.record(z.string(), I2cDeviceDef),
      })
      .strict(),
    serial: z
      .object({
        backend: z.enum(['sim', 'serialport']),
        ports: z.record(z.string(), SerialPortDef),
      })
      .strict(),
    ptz: z
      .object({
        protocol: z.literal('pelco-d'),
        /** Name of the serial port in `serial.ports`. */
        port: z.string().min(1),
        /** Pelco-D receiver address of the PTZ lens's pan/tilt head. */
        ptzAddress: int(1, 255),
        /** Pelco-D receiver address of the wide lens's pan-only motor (tilt is by hand). */
        widePanAddress: int(1, 255),
        pan: Axis,
        tilt: Axis,
        widePan: Axis,
        /** How long to wait for a position reply before the controller counts as not answering. */
        replyTimeoutMs: int(20, 5000).default(300),
      })
      .strict()
      .refine((p) => p.ptzAddress !== p.widePanAddress, {
        message: 'ptzAddress and widePanAddress must differ on a shared RS-485 bus',
        path: ['widePanAddress'],
      }),
    audio: z.object({ speaker: AlsaDev, microphone: AlsaDev }).strict(),
    video: z.object({ wide: Lens, ptz: Lens }).strict(),
    led: z
      .object({
        /** Slow blink period (on + off) in ms: 1 Hz by default. */
        slowPeriodMs: int(200, 10_000).default(1000),
        /** Fast blink period in ms: 4 Hz by default. */
        fastPeriodMs: int(50, 2000).default(250),
        dutyCycle: z.number().min(0.1).max(0.9).default(0.5),
      })
      .strict()
      .refine((l) => l.fastPeriodMs < l.slowPeriodMs, { message: 'fastPeriodMs must be shorter than slowPeriodMs', path: ['fastPeriodMs'] }),
    reset: z
      .object({
        /** Hold time for a factory reset (the manual: 5 s). */
        holdMs: int(1000, 30_000).default(5000),
      })
      .strict(),
    system: z
      .object({
        /** `self` (sim): the daemon restarts in place; otherwise the argv that reboots the board. */
        reboot: z.union([z.literal('self'), z.array(z.string().min(1)).min(1)]),
        /** argv that formats the card device (board); absent on the sim, where the card is a directory. */
        formatCard: z.array(z.string().min(1)).min(1).optional(),
        /** How camd learns whether the clock is NTP-synchronised; default `sim` on the sim board, else `timedatectl`. */
        clock: z.enum(['sim', 'timedatectl', 'chrony']).optional(),
      })
      .strict(),
    network: z
      .object({
        wiredInterface: z.string().min(1),
        wifiInterface: z.string().min(1),
      })
      .strict(),
    storage: z
      .object({
        /** Where the microSD card is mounted. */
        cardMount: z.string().min(1),
        /** Block device of the card (board), used by the format command. */
        cardDevice: z.string().min(1).optional(),
      })
      .strict(),
    /**
     * Factory defaults this board changes (a merge patch over the config schema's defaults):
     * the sim board points the cloud link at a local plaintext broker. Validated against the config
     * schema when the daemon builds its config store (src/config/store.ts): board/ knows no daemon schema.
     */
    configDefaults: z.record(z.string(), z.unknown()).default({}),
    paths: z
      .object({
        /** Persistent config, secrets and the event outbox (flash, not the card). */
        dataDir: z.string().min(1),
        /** Runtime files: the control socket. */
        runDir: z.string().min(1),
        model: z.string().min(1),
      })
      .strict(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (!(b.ptz.port in b.serial.ports)) {
      ctx.addIssue({ code: 'custom', message: `names no port in serial.ports (${Object.keys(b.serial.ports).join(', ')})`, path: ['ptz', 'port'] });
    }
    if (!(b.outputs.spotlightPwm.bus in b.i2c.buses)) {
      ctx.addIssue({ code: 'custom', message: 'names no bus in i2c.buses', path: ['outputs', 'spotlightPwm', 'bus'] });
    }
    for (const [name, dev] of Object.entries(b.i2c.devices)) {
      if (!(dev.bus in b.i2c.buses)) ctx.addIssue({ code: 'custom', message: 'names no bus in i2c.buses', path: ['i2c', 'devices', name, 'bus'] });
    }
    // A line is a (chip, offset) pair on the character device; sysfs numbers are global.
    const gpiod = b.gpio.backend === 'gpiod';
    const used = new Map<string, string>();
    const lines: [string, { line: number; chip?: string; bias: string }][] = [
      ...Object.entries(b.outputs).flatMap(([k, v]) => ('line' in v ? [[`outputs.${k}`, v] as [string, { line: number; chip?: string; bias: string }]] : [])),
      ['inputs.reset', b.inputs.reset],
    ];
    for (const [where, def] of lines) {
      const key = gpiod ? `${def.chip ?? b.gpio.chip}:${def.line}` : String(def.line);
      const other = used.get(key);
      const on = gpiod ? ` on ${def.chip ?? b.gpio.chip}` : '';
      if (other) ctx.addIssue({ code: 'custom', message: `GPIO line ${def.line}${on} is already used by ${other}`, path: where.split('.') });
      used.set(key, where);
      if (!gpiod && def.bias !== 'as-is') {
        ctx.addIssue({ code: 'custom', message: `bias needs gpio.backend "gpiod": ${b.gpio.backend} cannot set a pull resistor`, path: [...where.split('.'), 'bias'] });
      }
      if (!gpiod && def.chip !== undefined) {
        ctx.addIssue({ code: 'custom', message: `chip needs gpio.backend "gpiod" (${b.gpio.backend} lines are global numbers)`, path: [...where.split('.'), 'chip'] });
      }
    }
    const simOnly = b.backend === 'sim';
    if (simOnly !== (b.gpio.backend === 'sim') || simOnly !== (b.i2c.backend === 'sim') || simOnly !== (b.serial.backend === 'sim')) {
      ctx.addIssue({ code: 'custom', message: `backend "${b.backend}" needs every bus backend to match (sim ↔ sim)`, path: ['backend'] });
    }
  });

export type Board = z.infer<typeof BoardSchema>;
/** @public A board file as written by hand (before defaults), for tools that generate one. */
export type BoardInput = z.input<typeof BoardSchema>;
export type LensName = keyof Board['video'];
export const LENSES = ['wide', 'ptz'] as const satisfies readonly LensName[];

export class BoardError extends Error {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`board file ${file}: ${path || '(root)'}: ${problem}`);
    this.name = 'BoardError';
  }
}

/** Paths inside a board file are relative to the board file itself. */
function resolvePaths(board: Board, file: string): Board {
  const dir = dirname(file);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dir, p));
  const lens = (l: Board['video']['wide']): Board['video']['wide'] =>
    l.source.kind === 'file' ? { ...l, source: { ...l.source, path: abs(l.source.path) } } : l;
  const audio = (a: Board['audio']['speaker']): Board['audio']['speaker'] => (a.wavFile ? { ...a, wavFile: abs(a.wavFile) } : a);
  return {
    ...board,
    identity: board.identity.source === 'file' ? { ...board.identity, path: abs(board.identity.path) } : board.identity,
    video: { wide: lens(board.video.wide), ptz: lens(board.video.ptz) },
    audio: { speaker: audio(board.audio.speaker), microphone: audio(board.audio.microphone) },
    storage: { ...board.storage, cardMount: abs(board.storage.cardMount) },
    paths: { dataDir: abs(board.paths.dataDir), runDir: abs(board.paths.runDir), model: abs(board.paths.model) },
  };
}

export function parseBoard(raw: unknown, file: string): Board {
  const res = BoardSchema.safeParse(raw);
  if (!res.success) {
    const issue = describeIssue(res.error.issues[0]!);
    throw new BoardError(file, issue.path, issue.message);
  }
  return resolvePaths(res.data, file);
}

export function loadBoard(file: string): Board {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new BoardError(abs, '', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BoardError(abs, '', `not valid JSON: ${(err as Error).message}`);
  }
  return parseBoard(raw, abs);
}
