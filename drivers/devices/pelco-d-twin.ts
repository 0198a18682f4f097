import type { Clock } from '../clock.js';
import type { SerialLink } from '../serial/types.js';
import { interpret, MAX_SPEED, pelcoD, PelcoDParser, type PelcoDFrame } from './pelco-d.js';
import type { AxisPosition } from './types.js';

/** An axis as the board file describes it (board.ptz.pan / tilt / widePan). */
export interface TwinAxis {
  minDeg: number;
  maxDeg: number;
  maxSpeedDegS: number;
  homeDeg?: number;
}

export interface TwinMove {
  t: number;
  axis: 'pan' | 'tilt';
  kind: 'speed' | 'goto' | 'stop';
  /** Where the axis was when the command arrived. */
  from: number;
  /** Signed degrees per second. */
  speedDegS: number;
  target?: number;
}

/**
 * One axis, computed analytically from the last command's start time and speed, so the position
 * is right at any clock reading, under fake timers, without anything ticking. It stops at its
 * end stops and never passes them; a goto stops exactly on its target.
 */
class AxisMotion {
  private origin: number;
  private t0 = 0;
  private velocity = 0;
  private target: number | undefined;

  constructor(readonly def: TwinAxis) {
    this.origin = def.homeDeg ?? 0;
  }

  at(t: number): number {
    if (this.velocity === 0) return this.origin;
    let p = this.origin + (this.velocity * (t - this.t0)) / 1000;
    if (this.target !== undefined) p = this.velocity > 0 ? Math.min(p, this.target) : Math.max(p, this.target);
    return Math.min(this.def.maxDeg, Math.max(this.def.minDeg, p));
  }

  /** The commanded speed (deg/s, signed), even if an end stop holds the axis still. */
  get speed(): number {
    return this.velocity;
  }

  run(t: number, velocity: number): void {
    this.origin = this.at(t);
    this.t0 = t;
    this.velocity = velocity;
    this.target = undefined;
  }

  /** Goes to `target` (clamped to the end stops) at full speed; returns the clamped target. */
  goto(t: number, target: number): number {
    const to = Math.min(this.def.maxDeg, Math.max(this.def.minDeg, target));
    const from = this.at(t);
    this.run(t, to === from ? 0 : Math.sign(to - from) * this.def.maxSpeedDegS);
    this.target = to;
    return to;
  }
}

export interface PelcoDTwinOptions {
  address: number;
  clock: Clock;
  pan: TwinAxis;
  /** Absent on a pan-only motor: tilt commands are ignored and tilt queries get no answer. */
  tilt?: TwinAxis;
}

/**
 * The sim twin of a Pelco-D receiver on the device end of a serial link. It answers only its own
 * address. Speed byte 0x3F is the axis's maxSpeedDegS, linear below. Like most receivers it
 * acknowledges nothing except the two position queries.
 */
export class PelcoDTwin {
  readonly address: number;
  readonly moves: TwinMove[] = [];
  /** Every frame addressed to this receiver, in order. */
  readonly frames: PelcoDFrame[] = [];
  private readonly pan: AxisMotion;
  private readonly tilt: AxisMotion | undefined;
  private readonly presets = new Map<number, AxisPosition>();
  private readonly clock: Clock;
  private detachLink: (() => void) | undefined;

  constructor(opts: PelcoDTwinOptions) {
    this.address = opts.address;
    this.clock = opts.clock;
    this.pan = new AxisMotion(opts.pan);
    this.tilt = opts.tilt ? new AxisMotion(opts.tilt) : undefined;
  }

  /** Listens on the link and answers there; several twins may share one (queued) link. */
  attach(link: SerialLink): void {
    this.detach();
    const parser = new PelcoDParser();
    const off = link.onData((chunk) => {
      for (const frame of parser.push(chunk)) {
        const reply = this.handle(frame);
        // A reply that cannot be written is lost on the wire; the host times out, as it would.
        if (reply) link.write(reply).catch(() => undefined);
      }
    });
    this.detachLink = off;
  }

  detach(): void {
    this.detachLink?.();
    this.detachLink = undefined;
  }

  position(): AxisPosition {
    const t = this.clock.now();
    return { pan: this.pan.at(t), tilt: this.tilt?.at(t) ?? 0 };
  }

  /** Applies one frame; returns the reply bytes if it asks for one. Frames for others are ignored. */
  handle(frame: PelcoDFrame): Uint8Array | undefined {
    if (frame.address !== this.address) return undefined;
    this.frames.push(frame);
    const t = this.clock.now();
    const cmd = interpret(frame);
    switch (cmd.type) {
      case 'move':
        this.run('pan', t, cmd.pan);
        if (this.tilt) this.run('tilt', t, cmd.tilt);
        return undefined;
      case 'set-pan-position':
        this.goto('pan', t, cmd.deg);
        return undefined;
      case 'set-tilt-position':
        if (this.tilt) this.goto('tilt', t, cmd.deg);
        return undefined;
      case 'set-preset':
        this.presets.set(cmd.preset, this.position());
        return undefined;
      case 'clear-preset':
        this.presets.delete(cmd.preset);
        return undefined;
      case 'goto-preset': {
        const p = this.presets.get(cmd.preset);
        if (p) {
          this.goto('pan', t, p.pan);
          if (this.tilt) this.goto('tilt', t, p.tilt);
        }
        return undefined;
      }
      case 'query-pan':
        return pelcoD.panPositionReply(this.address, this.pan.at(t));
      case 'query-tilt':
        return this.tilt ? pelcoD.tiltPositionReply(this.address, this.tilt.at(t)) : undefined;
      default:
        return undefined;
    }
  }

  private run(axis: 'pan' | 'tilt', t: number, speedByte: number): void {
    const motion = axis === 'pan' ? this.pan : this.tilt!;
    const velocity = (Math.sign(speedByte) * Math.min(Math.abs(speedByte), MAX_SPEED) * motion.def.maxSpeedDegS) / MAX_SPEED;
    const from = motion.at(t);
    const unchanged = velocity === motion.speed;
    motion.run(t, velocity);
    // A standard command restates both axes; only a change is a move worth logging.
    if (unchanged) return;
    this.moves.push({ t, axis, kind: velocity === 0 ? 'stop' : 'speed', from, speedDegS: velocity });
  }

  private goto(axis: 'pan' | 'tilt', t: number, deg: number): void {
    const motion = axis === 'pan' ? this.pan : this.tilt!;
    const from = motion.at(t);
    const target = motion.goto(t, deg);
    this.moves.push({ t, axis, kind: 'goto', from, speedDegS: Math.sign(target - from) * motion.def.maxSpeedDegS, target });
  }
}
