/**
 * Pelco-D, the PTZ receiver protocol, as pure encode/decode.
 *
 * Why Pelco-D over RS-485: it is the industry-standard protocol of PTZ receivers, so the heads
 * are off-the-shelf parts and a bench can be driven by any CCTV tool. RS-485 is multi-drop: the
 * PTZ head and the wide lens's pan motor share one twisted pair and one UART, told apart by their
 * receiver addresses. The extended commands give absolute positioning and, above all, a position
 * query, so the daemon knows exactly where the motor is instead of integrating speed × time.
 *
 * Frame (7 bytes): FF, address, cmd1, cmd2, data1, data2, checksum, where the checksum is the
 * sum of bytes 2..6 (address through data2) modulo 256. Standard commands carry direction bits
 * in cmd2 with pan speed in data1 and tilt speed in data2 (0x00-0x3F); extended commands have
 * bit 0 of cmd2 set.
 *
 * Angles travel in hundredths of a degree, MSB first, in 0..35999. Pan is read as 0..359.99°.
 * Tilt may be negative (below the horizon on this head); the common convention, used by Pelco's
 * Spectra manual and most clones, wraps it modulo 360°: -10.00° is sent as 36000 - 1000 = 35000,
 * and a value of 18000 or more reads back as negative. Angles increase to the right (pan) and
 * upwards (tilt), the same sense as the speeds in PtzMotor.
 */
export const SYNC = 0xff;
export const FRAME_LENGTH = 7;
export const MAX_SPEED = 0x3f;

export const CMD2 = { PAN_RIGHT: 0x02, PAN_LEFT: 0x04, TILT_UP: 0x08, TILT_DOWN: 0x10, ZOOM_TELE: 0x20, ZOOM_WIDE: 0x40, FOCUS_FAR: 0x80 } as const;

export const EXT = {
  SET_PRESET: 0x03,
  CLEAR_PRESET: 0x05,
  GOTO_PRESET: 0x07,
  SET_PAN_POSITION: 0x4b,
  SET_TILT_POSITION: 0x4d,
  QUERY_PAN: 0x51,
  QUERY_TILT: 0x53,
  PAN_POSITION_REPLY: 0x59,
  TILT_POSITION_REPLY: 0x5b,
} as const;

export interface PelcoDFrame {
  address: number;
  cmd1: number;
  cmd2: number;
  data1: number;
  data2: number;
}

export type PelcoDCommand =
  /** A standard command: the full motion state, signed speeds; 0/0 is stop. */
  | { type: 'move'; pan: number; tilt: number }
  | { type: 'set-preset' | 'clear-preset' | 'goto-preset'; preset: number }
  | { type: 'set-pan-position' | 'set-tilt-position'; deg: number }
  | { type: 'query-pan' | 'query-tilt' }
  | { type: 'pan-position' | 'tilt-position'; deg: number }
  | { type: 'other' };

export function checksum(f: PelcoDFrame): number {
  return (f.address + f.cmd1 + f.cmd2 + f.data1 + f.data2) & 0xff;
}

export function encodeFrame(f: PelcoDFrame): Uint8Array {
  for (const [k, v] of Object.entries(f)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`Pelco-D ${k} ${String(v)} is not a byte`);
  }
  return Uint8Array.of(SYNC, f.address, f.cmd1, f.cmd2, f.data1, f.data2, checksum(f));
}

/** Decodes exactly one frame; throws on a wrong length, a missing sync byte or a bad checksum. */
export function decodeFrame(bytes: Uint8Array): PelcoDFrame {
  if (bytes.length !== FRAME_LENGTH) throw new RangeError(`Pelco-D frame must be ${FRAME_LENGTH} bytes, got ${bytes.length}`);
  if (bytes[0] !== SYNC) throw new RangeError(`Pelco-D frame must start with 0xFF, got 0x${bytes[0]!.toString(16)}`);
  const f: PelcoDFrame = { address: bytes[1]!, cmd1: bytes[2]!, cmd2: bytes[3]!, data1: bytes[4]!, data2: bytes[5]! };
  if (checksum(f) !== bytes[6]) throw new RangeError(`Pelco-D checksum 0x${bytes[6]!.toString(16)} does not match 0x${checksum(f).toString(16)}`);
  return f;
}

export function angleToWire(deg: number): number {
  if (!Number.isFinite(deg)) throw new RangeError(`angle ${deg} is not a number`);
  return ((Math.round(deg * 100) % 36000) + 36000) % 36000;
}

export function panFromWire(v: number): number {
  return (v % 36000) / 100;
}

export function tiltFromWire(v: number): number {
  const w = v % 36000;
  return (w >= 18000 ? w - 36000 : w) / 100;
}

function speed(what: string, v: number): number {
  const m = Math.abs(v);
  if (!Number.isInteger(v) || m > MAX_SPEED) throw new RangeError(`Pelco-D ${what} speed ${v} out of range -63..63`);
  return m;
}

function preset(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 0xff) throw new RangeError(`Pelco-D preset ${n} out of range 1..255`);
  return n;
}

const ext = (address: number, cmd2: number, data1 = 0, data2 = 0): Uint8Array => encodeFrame({ address, cmd1: 0, cmd2, data1, data2 });
const word = (address: number, cmd2: number, v: number): Uint8Array => ext(address, cmd2, v >> 8, v & 0xff);

/** Frame builders, one per command; speeds are signed (pan > 0 right, tilt > 0 up). */
export const pelcoD = {
  move(address: number, pan: number, tilt: number): Uint8Array {
    const cmd2 = (pan > 0 ? CMD2.PAN_RIGHT : 0) | (pan < 0 ? CMD2.PAN_LEFT : 0) | (tilt > 0 ? CMD2.TILT_UP : 0) | (tilt < 0 ? CMD2.TILT_DOWN : 0);
    return encodeFrame({ address, cmd1: 0, cmd2, data1: speed('pan', pan), data2: speed('tilt', tilt) });
  },
  stop: (address: number): Uint8Array => pelcoD.move(address, 0, 0),
  setPreset: (address: number, n: number): Uint8Array => ext(address, EXT.SET_PRESET, 0, preset(n)),
  clearPreset: (address: number, n: number): Uint8Array => ext(address, EXT.CLEAR_PRESET, 0, preset(n)),
  gotoPreset: (address: number, n: number): Uint8Array => ext(address, EXT.GOTO_PRESET, 0, preset(n)),
  setPanPosition: (address: number, deg: number): Uint8Array => word(address, EXT.SET_PAN_POSITION, angleToWire(deg)),
  setTiltPosition: (address: number, deg: number): Uint8Array => word(address, EXT.SET_TILT_POSITION, angleToWire(deg)),
  queryPan: (address: number): Uint8Array => ext(address, EXT.QUERY_PAN),
  queryTilt: (address: number): Uint8Array => ext(address, EXT.QUERY_TILT),
  panPositionReply: (address: number, deg: number): Uint8Array => word(address, EXT.PAN_POSITION_REPLY, angleToWire(deg)),
  tiltPositionReply: (address: number, deg: number): Uint8Array => word(address, EXT.TILT_POSITION_REPLY, angleToWire(deg)),
};

/** What a frame means. Zoom, focus, iris and unknown extended commands come back as 'other'. */
export function interpret(f: PelcoDFrame): PelcoDCommand {
  if ((f.cmd2 & 0x01) === 0) {
    if (f.cmd1 !== 0 && f.cmd1 !== 0x80) return { type: 'other' }; // iris/focus/camera on-off
    const pan = f.cmd2 & CMD2.PAN_RIGHT ? f.data1 : f.cmd2 & CMD2.PAN_LEFT ? -f.data1 : 0;
    const tilt = f.cmd2 & CMD2.TILT_UP ? f.data2 : f.cmd2 & CMD2.TILT_DOWN ? -f.data2 : 0;
    return { type: 'move', pan, tilt };
  }
  const value = (f.data1 << 8) | f.data2;
  switch (f.cmd2) {
    case EXT.SET_PRESET: return { type: 'set-preset', preset: f.data2 };
    case EXT.CLEAR_PRESET: return { type: 'clear-preset', preset: f.data2 };
    case EXT.GOTO_PRESET: return { type: 'goto-preset', preset: f.data2 };
    case EXT.SET_PAN_POSITION: return { type: 'set-pan-position', deg: panFromWire(value) };
    case EXT.SET_TILT_POSITION: return { type: 'set-tilt-position', deg: tiltFromWire(value) };
    case EXT.QUERY_PAN: return { type: 'query-pan' };
    case EXT.QUERY_TILT: return { type: 'query-tilt' };
    case EXT.PAN_POSITION_REPLY: return { type: 'pan-position', deg: panFromWire(value) };
    case EXT.TILT_POSITION_REPLY: return { type: 'tilt-position', deg: tiltFromWire(value) };
    default: return { type: 'other' };
  }
}

/**
 * Splits a byte stream into frames. It hunts for 0xFF; a 7-byte candidate whose checksum fails
 * is rejected and the hunt restarts one byte later, because 0xFF may also occur inside a frame
 * (a checksum or data byte), so the true start can be inside a rejected candidate.
 */
export class PelcoDParser {
  private buf: number[] = [];
  readonly stats = { frames: 0, badChecksum: 0, discardedBytes: 0 };

  /** `onReject` sees each candidate that failed its checksum. */
  constructor(private readonly onReject?: (candidate: Uint8Array) => void) {}

  push(chunk: Uint8Array): PelcoDFrame[] {
    for (const b of chunk) this.buf.push(b);
    const frames: PelcoDFrame[] = [];
    let i = 0;
    for (;;) {
      while (i < this.buf.length && this.buf[i] !== SYNC) {
        i++;
        this.stats.discardedBytes++;
      }
      if (this.buf.length - i < FRAME_LENGTH) break;
      const candidate = Uint8Array.from(this.buf.slice(i, i + FRAME_LENGTH));
      const f: PelcoDFrame = { address: candidate[1]!, cmd1: candidate[2]!, cmd2: candidate[3]!, data1: candidate[4]!, data2: candidate[5]! };
      if (checksum(f) === candidate[6]) {
        frames.push(f);
        this.stats.frames++;
        i += FRAME_LENGTH;
      } else {
        this.stats.badChecksum++;
        this.stats.discardedBytes++;
        i++;
        this.onReject?.(candidate);
      }
    }
    this.buf = this.buf.slice(i);
    return frames;
  }

  /** Drops a partial frame (e.g. after a reply timeout, so a late fragment cannot pair with new bytes). */
  reset(): void {
    this.buf = [];
  }
}
