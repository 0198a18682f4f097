import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadBoard } from '../../../board/schema.js';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { openHardware, type Hardware } from '../../../drivers/hardware.js';
import { DARK, renderLights, SPOT_RAMP_MS, sceneLuts, type LightLevels } from '../../../drivers/sim-scene.js';

const board = loadBoard(join(resolve(import.meta.dirname, '../../../board'), 'sim.json'));

/** A 16x8 gradient scene: gray 0..255 across, and an RGB plane of a neutral, a reddish and a bluish band. */
function frame(): { gray: { width: number; height: number; data: Buffer }; rgb: { width: number; height: number; data: Buffer } } {
  const w = 16;
  const h = 8;
  const gray = Buffer.alloc(w * h);
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = Math.round((x * 200) / (w - 1)) + 20;
      gray[y * w + x] = v;
      const i = (y * w + x) * 3;
      const band = y % 3;
      rgb[i] = band === 1 ? Math.min(255, v + 30) : v;
      rgb[i + 1] = v;
      rgb[i + 2] = band === 2 ? Math.min(255, v + 30) : v;
    }
  }
  return { gray: { width: w, height: h, data: gray }, rgb: { width: w, height: h, data: rgb } };
}

const mean = (b: Buffer, from = 0, step = 1): number => {
  let s = 0;
  let n = 0;
  for (let i = from; i < b.length; i += step, n++) s += b[i]!;
  return s / n;
};
const channels = (rgb: Buffer): { r: number; g: number; b: number } => ({ r: mean(rgb, 0, 3), g: mean(rgb, 1, 3), b: mean(rgb, 2, 3) });

function rendered(l: LightLevels): ReturnType<typeof frame> {
  const f = frame();
  renderLights(l, f.gray, f.rgb);
  return f;
}

describe('sim scene: the board renders its own lights into the tap frames', () => {
  it('all lights off in day mode leaves the planes untouched', () => {
    const f = frame();
    const before = { gray: Buffer.from(f.gray.data), rgb: Buffer.from(f.rgb.data) };
    renderLights(DARK, f.gray, f.rgb);
    expect(f.gray.data).toEqual(before.gray);
    expect(f.rgb.data).toEqual(before.rgb);
  });

  it('the spotlight brightens in proportion to its level, gray and RGB alike, and keeps colours', () => {
    const base = frame();
    const half = rendered({ ...DARK, spotlight: 0.5 });
    const full = rendered({ ...DARK, spotlight: 1 });
    const g0 = mean(base.gray.data);
    const g1 = mean(half.gray.data);
    const g2 = mean(full.gray.data);
    expect(g1 - g0).toBeGreaterThan(20);
    expect(g2 - g0).toBeGreaterThan(1.6 * (g1 - g0));
    // Brighter, never darker, pixel by pixel; same on a neutral RGB pixel as on its gray twin.
    for (let i = 0; i < base.gray.data.length; i++) expect(full.gray.data[i]!).toBeGreaterThanOrEqual(base.gray.data[i]!);
    expect(full.rgb.data[0]).toBe(full.gray.data[0]);
    const c = channels(full.rgb.data);
    expect(Math.abs(c.r - c.g)).toBeLessThan(10);
  });

  it('a red strobe tints red, a blue one blue', () => {
    const base = channels(frame().rgb.data);
    const red = channels(rendered({ ...DARK, red: true }).rgb.data);
    const blue = channels(rendered({ ...DARK, blue: true }).rgb.data);
    expect(red.r / red.b).toBeGreaterThan(1.4 * (base.r / base.b));
    expect(blue.b / blue.r).toBeGreaterThan(1.4 * (base.b / base.r));
    expect(red.g).toBeLessThan(base.g);
  });

  it('night mode is monochrome and brighter', () => {
    const base = frame();
    const night = rendered({ ...DARK, night: true });
    const d = night.rgb.data;
    for (let i = 0; i < d.length; i += 3) expect([d[i + 1], d[i + 2]]).toEqual([d[i], d[i]]);
    expect(mean(night.gray.data)).toBeGreaterThan(mean(base.gray.data) + 15);
    // The gray plane is the luma of the neutral RGB pixel.
    expect(night.gray.data[0]).toBe(night.rgb.data[0]);
  });

  it('curves are monotonic (a light never inverts the picture)', () => {
    for (const l of [{ ...DARK, spotlight: 1, red: true, night: true }, { ...DARK, blue: true }, { ...DARK, spotlight: 0.3 }]) {
      const t = sceneLuts(l);
      for (let v = 1; v < 256; v++) for (const c of [t.r, t.g, t.b, t.y]) expect(c[v]!).toBeGreaterThanOrEqual(c[v - 1]!);
    }
  });
});

describe('sim scene on the sim board: light states from its own lines and PWM channel', () => {
  const logging = silentLogging();
  const log = (c: string) => logging.forComponent(c);
  let hw: Hardware | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 1000 });
  });
  afterEach(async () => {
    await hw?.close();
    hw = undefined;
    vi.useRealTimers();
  });

  it('the spotlight ramps up to its PWM brightness and back down to dark', async () => {
    hw = await openHardware(board, { clock: systemClock, log });
    const scene = hw.sim!.scene;
    expect(scene.levels(Date.now())).toEqual(DARK);
    const t0 = Date.now();
    await hw.parts.spotlight!.set(true, 50);
    expect(scene.levels(t0).spotlight).toBe(0);
    expect(scene.levels(t0 + SPOT_RAMP_MS / 4).spotlight).toBeCloseTo(0.25, 2);
    expect(scene.levels(t0 + SPOT_RAMP_MS).spotlight).toBeCloseTo(0.5, 2);
    vi.advanceTimersByTime(SPOT_RAMP_MS * 2);
    const t1 = Date.now();
    await hw.parts.spotlight!.set(true, 100);
    expect(scene.levels(t1 + SPOT_RAMP_MS / 4).spotlight).toBeCloseTo(0.75, 2);
    vi.advanceTimersByTime(SPOT_RAMP_MS * 2);
    const t2 = Date.now();
    await hw.parts.spotlight!.set(false);
    expect(scene.levels(t2 + SPOT_RAMP_MS / 2).spotlight).toBeCloseTo(0.5, 2);
    expect(scene.levels(t2 + SPOT_RAMP_MS).spotlight).toBe(0);
  });

  it('strobe lines tint while lit, the IR-cut pulses switch night mode, and render() applies them', async () => {
    hw = await openHardware(board, { clock: systemClock, log });
    const scene = hw.sim!.scene;
    hw.parts.strobeRed!.set(true);
    expect(scene.levels(Date.now())).toMatchObject({ red: true, blue: false });
    const f = frame();
    const before = channels(f.rgb.data);
    scene.render(Date.now(), f.gray, f.rgb);
    expect(channels(f.rgb.data).r).toBeGreaterThan(before.r * 1.3);
    hw.parts.strobeRed!.set(false);
    hw.parts.strobeBlue!.set(true);
    expect(scene.levels(Date.now())).toMatchObject({ red: false, blue: true });
    hw.parts.strobeBlue!.set(false);

    const night = hw.parts.irCut!.set('night');
    await vi.advanceTimersByTimeAsync(150);
    await night;
    // The pulse is over (the coil is unpowered); the filter stays out: still night.
    expect(scene.levels(Date.now())).toEqual({ ...DARK, night: true });
    const day = hw.parts.irCut!.set('day');
    await vi.advanceTimersByTimeAsync(150);
    await day;
    expect(scene.levels(Date.now())).toEqual(DARK);
    const g = frame();
    const copy = Buffer.from(g.gray.data);
    scene.render(Date.now(), g.gray, g.rgb);
    expect(g.gray.data).toEqual(copy);
  });
});
