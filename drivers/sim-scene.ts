import type { Board } from '../board/schema.js';
import type { Pca9685Model } from './i2c/models/pca9685.js';
import type { Timeline, TimelineEntry } from './timeline.js';

/**
 * The sim board's own lights, as its lenses see them. A real camera's sensor sees the spotlight,
 * the strobes and the IR-cut filter; the sim lenses play a recorded clip that never does. So the
 * sim board renders them into the tap frames (gray + RGB planes) the daemon's detectors read,
 * from the states of its own lines and PWM channel, the way the scene would change:
 *
 * - spotlight: adds light in proportion to its brightness (PWM duty × enable line). The LED
 *   driver's soft start is modelled as a linear ramp of `SPOT_RAMP_MS` from off to full (and
 *   back): the daemon's driver writes one duty, the lamp takes a moment to get there.
 * - strobes: while a strobe line is lit, its colour's channel is amplified (red or blue tint);
 *   the alarm's pattern alternates them every 150 ms, so consecutive frames flicker red/blue.
 * - IR-cut: the last pulse on `irCutNight` = night (filter out, IR illuminator on): the sensor
 *   sees in monochrome, and brighter; a pulse on `irCutDay` = day (colour again).
 *
 * Plausible, not photometric: values are gamma-encoded bytes, and a light's effect is one
 * per-channel curve (a LUT), so one frame costs 3 table lookups per RGB pixel and one per gray
 * pixel (~3 ms for 640x360 + 352x198 on the 2-core dev box, only while a light is on: with
 * every light off in day mode nothing is touched).
 * Only the sim board has this (SimBoard.scene); real hardware sees its lights through its lens.
 */

/** Time the sim spotlight takes from off to full brightness (and from full to off). */
export const SPOT_RAMP_MS = 600;
/** Full spotlight: pixel → pixel * (1 + SPOT_GAIN) + SPOT_ADD (reflected light ∝ albedo, plus fill). */
const SPOT_GAIN = 0.6;
const SPOT_ADD = 24;
/** A lit strobe: its channel → channel * STROBE_GAIN + STROBE_ADD; the other two a little darker (the auto white balance is not fast enough to follow). */
const STROBE_GAIN = 1.6;
const STROBE_ADD = 18;
const STROBE_OTHERS = 0.92;
/** Night mode (IR-cut removed, IR illuminator on): monochrome, y → y * NIGHT_GAIN + NIGHT_ADD. */
const NIGHT_GAIN = 1.3;
const NIGHT_ADD = 12;

/** What the lenses see of the camera's lights at one instant. */
export interface LightLevels {
  /** Rendered spotlight level 0..1 (after the ramp). */
  spotlight: number;
  red: boolean;
  blue: boolean;
  night: boolean;
}

export const DARK: LightLevels = { spotlight: 0, red: false, blue: false, night: false };

export interface ScenePlane {
  width: number;
  height: number;
  data: Buffer | Uint8Array;
}

/** The per-channel curves of one light state. */
export interface SceneLuts {
  r: Uint8Array;
  g: Uint8Array;
  b: Uint8Array;
  /** Gray plane: the luma of a neutral pixel of that value after r/g/b (and night). */
  y: Uint8Array;
  night: boolean;
  /** Night mode's curve on luma (identity in day mode). */
  n: Uint8Array;
}

function isDark(l: LightLevels): boolean {
  return l.spotlight <= 0 && !l.red && !l.blue && !l.night;
}

const clamp = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
/** BT.601 luma weights in 1/256 (the same weights ffmpeg's gray conversion uses). */
const luma = (r: number, g: number, b: number): number => (77 * r + 150 * g + 29 * b + 128) >> 8;

export function sceneLuts(l: LightLevels): SceneLuts {
  const r = new Uint8Array(256);
  const g = new Uint8Array(256);
  const b = new Uint8Array(256);
  const n = new Uint8Array(256);
  const y = new Uint8Array(256);
  const s = Math.min(1, Math.max(0, l.spotlight));
  for (let v = 0; v < 256; v++) {
    const lit = v * (1 + SPOT_GAIN * s) + SPOT_ADD * s;
    const tinted = (on: boolean, others: boolean): number => (on ? lit * STROBE_GAIN + STROBE_ADD : others ? lit * STROBE_OTHERS : lit);
    r[v] = clamp(tinted(l.red, l.blue));
    g[v] = clamp(tinted(false, l.red || l.blue));
    b[v] = clamp(tinted(l.blue, l.red));
    n[v] = l.night ? clamp(v * NIGHT_GAIN + NIGHT_ADD) : v;
  }
  for (let v = 0; v < 256; v++) y[v] = n[luma(r[v]!, g[v]!, b[v]!)]!;
  return { r, g, b, y, night: l.night, n };
}

/** Renders one light state into a tap frame's planes, in place (the capture owns the buffers). */
export function renderLights(l: LightLevels, gray: ScenePlane, rgb?: ScenePlane, luts: SceneLuts = sceneLuts(l)): void {
  if (isDark(l)) return;
  const gd = gray.data;
  const gn = gray.width * gray.height;
  const ly = luts.y;
  for (let i = 0; i < gn; i++) gd[i] = ly[gd[i]!]!;
  if (!rgb) return;
  const d = rgb.data;
  const end = rgb.width * rgb.height * 3;
  const { r, g, b, n } = luts;
  if (luts.night) {
    for (let i = 0; i < end; i += 3) {
      const v = n[luma(r[d[i]!]!, g[d[i + 1]!]!, b[d[i + 2]!]!)]!;
      d[i] = v;
      d[i + 1] = v;
      d[i + 2] = v;
    }
  } else {
    for (let i = 0; i < end; i += 3) {
      d[i] = r[d[i]!]!;
      d[i + 1] = g[d[i + 1]!]!;
      d[i + 2] = b[d[i + 2]!]!;
    }
  }
}

/** A linear ramp from `from` (at `t0`) towards `to` at 1 / SPOT_RAMP_MS per ms. */
interface Ramp {
  t0: number;
  from: number;
  to: number;
}

function rampAt(r: Ramp, t: number, rampMs: number): number {
  const step = rampMs <= 0 ? Infinity : Math.max(0, t - r.t0) / rampMs;
  return r.to >= r.from ? Math.min(r.to, r.from + step) : Math.max(r.to, r.from - step);
}

/**
 * Follows the board's light outputs on the timeline (every GPIO edge and I2C write is on it, at
 * the clock time it happened) and answers what the lenses see at a given time.
 */
export class SimScene {
  private readonly lines = new Map<string, 0 | 1>();
  private spot: Ramp = { t0: 0, from: 0, to: 0 };
  private night = false;
  private readonly unsubscribe: () => void;
  private cached: { key: string; luts: SceneLuts } | undefined;
  /** Frames rendered with some light on (tests and the status read it). */
  rendered = 0;

  constructor(
    private readonly board: Board,
    timeline: Timeline,
    private readonly pwm: () => Pca9685Model | undefined,
    private readonly rampMs = SPOT_RAMP_MS,
  ) {
    this.unsubscribe = timeline.onRecord((e) => this.observe(e));
  }

  /** What the lenses see at time `t` (clock ms, the tap frames' `ts`). */
  levels(t: number): LightLevels {
    return {
      spotlight: rampAt(this.spot, t, this.rampMs),
      red: this.lines.get('strobeRed') === 1,
      blue: this.lines.get('strobeBlue') === 1,
      night: this.night,
    };
  }

  /** Renders the lights at `ts` into one tap frame's planes, in place. */
  render(ts: number, gray: ScenePlane, rgb?: ScenePlane): LightLevels {
    const l = this.levels(ts);
    if (isDark(l)) return l;
    // Spotlight levels in 1/256 steps: a ramp reuses its curves instead of building a set per frame.
    const q = { ...l, spotlight: Math.round(l.spotlight * 256) / 256 };
    const key = `${q.spotlight}|${+q.red}|${+q.blue}|${+q.night}`;
    if (this.cached?.key !== key) this.cached = { key, luts: sceneLuts(q) };
    renderLights(q, gray, rgb, this.cached.luts);
    this.rendered++;
    return l;
  }

  close(): void {
    this.unsubscribe();
  }

  private observe(e: TimelineEntry): void {
    const { outputs } = this.board;
    if (e.kind === 'gpio') {
      this.lines.set(e.name, e.value);
      // The filter moves on a pulse and then stays where it is (bistable): remember the last one.
      if (e.value === 1 && e.name === 'irCutNight') this.night = true;
      if (e.value === 1 && e.name === 'irCutDay') this.night = false;
      if (e.name === 'spotlightEnable') this.retarget(e.t);
    } else if (e.kind === 'i2c' && e.dir === 'write' && !e.nack && e.bus === outputs.spotlightPwm.bus && e.address === outputs.spotlightPwm.address) {
      this.retarget(e.t);
    }
  }

  /** The lamp's drive changed at `t`: ramp from where it is now towards the new drive. */
  private retarget(t: number): void {
    const duty = this.pwm()?.dutyCycle(this.board.outputs.spotlightPwm.channel) ?? 0;
    const to = this.lines.get('spotlightEnable') === 1 ? duty : 0;
    if (to === this.spot.to) return;
    this.spot = { t0: t, from: rampAt(this.spot, t, this.rampMs), to };
  }
}
