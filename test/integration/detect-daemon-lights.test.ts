import { afterEach, describe, expect, it, vi } from 'vitest';
import { alarmService } from '../../src/alarm/service.js';
import type { TapFrame } from '../../src/capture/types.js';
import type { DetectionState } from '../../src/detect/state.js';
import type { DetectionEpisode } from '../../src/domain/episode.js';
import type { LensName } from '../../src/domain/types.js';
import { captureServices, detectionService } from '../../src/services.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { SPOT_RAMP_MS } from '../../drivers/sim-scene.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { detectBoard, detectDir, removeDetectDirs, staticClip } from './detect-daemon-media.js';

// Real processes (ffmpeg, the ONNX worker): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The camera's own lights, end to end on the sim board: the board renders the spotlight, the
 * strobes and night mode into the tap frames (drivers/sim-scene.ts), the real capture (ffmpeg,
 * the empty room as a still) and the real detection service (FastestDet) run on them, and the
 * real alarm service switches the lights. Two things are checked: the frames really change (a
 * test that cannot see the light could not tell a blind detector from a good one), and nothing
 * — human, vehicle or image change — is ever detected: the "light on → 'car' → light on" loop.
 */
let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  removeDetectDirs();
});

interface Sample {
  ts: number;
  lens: LensName;
  luma: number;
  r: number;
  g: number;
  b: number;
  /** Largest |R-G| + |G-B| of any pixel: 0 = monochrome. */
  chroma: number;
}

function measure(f: TapFrame): Sample {
  let y = 0;
  for (let i = 0; i < f.gray.data.length; i++) y += f.gray.data[i]!;
  let r = 0;
  let g = 0;
  let b = 0;
  let chroma = 0;
  const d = f.rgb!.data;
  // Every 7th pixel is plenty for means; the handler must return quickly (the planes are pooled).
  for (let i = 0; i < d.length; i += 21) {
    r += d[i]!;
    g += d[i + 1]!;
    b += d[i + 2]!;
    chroma = Math.max(chroma, Math.abs(d[i]! - d[i + 1]!) + Math.abs(d[i + 1]! - d[i + 2]!));
  }
  const n = Math.ceil(d.length / 21);
  return { ts: f.ts, lens: f.lens, luma: y / f.gray.data.length, r: r / n, g: g / n, b: b / n, chroma };
}

const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('detection daemon: the camera switching its own lights (rendered by the sim board)', () => {
  it('spotlight with ramps, strobes, IR-cut night mode and an alarm change the frames and raise no episode', async () => {
    const still = staticClip();
    // Every detection type on, image change at its most sensitive: whatever the lights do to the picture would show.
    const dir = detectDir({ detection: { human: { enabled: true }, vehicle: { enabled: true }, change: { enabled: true, sensitivity: 100 } } });
    const b = await bootSim({ dir, board: detectBoard(dir, { wide: still, ptz: still }), services: [coreCommands, alarmService, ...captureServices, detectionService] });
    booted = b;
    const exec = async (cmd: string, args: Record<string, unknown> = {}): Promise<unknown> => {
      const r = await b.sup.commands.execute(cmd, args, { source: 'local' });
      expect(r, cmd).toMatchObject({ ok: true });
      return r;
    };
    const detection = async (): Promise<DetectionState> => ((await b.sup.commands.execute('detection.get', {}, { source: 'local' })) as { result: DetectionState }).result;
    const episodes: DetectionEpisode[] = [];
    const events: CameraEvent[] = [];
    const samples: Sample[] = [];
    b.sup.bus.on({ name: 'test' }, 'detection.episode', (e) => void episodes.push(e));
    b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
    b.sup.bus.on({ name: 'test' }, 'capture.frame', (f) => void samples.push(measure(f)));
    const lights: { source: string; on: boolean }[] = [];
    b.sup.bus.on({ name: 'test' }, 'lights.changing', (e) => void lights.push({ source: e.source, on: e.on }));

    await waitFor(async () => {
      const d = await detection();
      return d.model.status === 'ready' && (['wide', 'ptz'] as const).every((l) => (d.lenses[l]?.framesIn ?? 0) >= 15);
    }, 30_000, 250);

    const window = (from: number, to: number, lens: LensName = 'wide'): Sample[] => samples.filter((s) => s.lens === lens && s.ts >= from && s.ts < to);
    const phases: Record<string, { from: number; to: number }> = {};
    const phase = async (name: string, ms: number, fn?: () => Promise<unknown> | void): Promise<void> => {
      const from = Date.now();
      await fn?.();
      await sleep(ms);
      phases[name] = { from, to: Date.now() };
    };

    await phase('dark', 2000);
    await phase('spotOn', 4000, () => exec('spotlight.set', { on: true, brightness: 100 }));
    await phase('spotHalf', 4000, () => exec('spotlight.set', { on: true, brightness: 40 }));
    await phase('spotOff', 4000, () => exec('spotlight.set', { on: false }));
    await phase('red', 4000, () => exec('output.set', { output: 'strobeRed', on: true }));
    await phase('redOff', 3000, () => exec('output.set', { output: 'strobeRed', on: false }));
    await phase('blue', 4000, () => exec('output.set', { output: 'strobeBlue', on: true }));
    await phase('blueOff', 3000, () => exec('output.set', { output: 'strobeBlue', on: false }));
    // Nothing in the daemon owns the IR-cut filter yet: switch the part as its owner would, saying so first.
    const irCut = b.sup.hardware.parts.irCut!;
    await phase('night', 5000, async () => {
      b.sup.bus.emit('lights.changing', { source: 'ircut', on: true, ts: Date.now() });
      await irCut.set('night');
    });
    await phase('day', 4000, async () => {
      b.sup.bus.emit('lights.changing', { source: 'ircut', on: false, ts: Date.now() });
      await irCut.set('day');
    });
    // The alarm: siren + strobes flashing for 18 s. `lights.changing` comes once when they start
    // and once when they stop; the detector's settle time after a switch is 3 s, so the first 8 s
    // alone are 5 s of flashing on its own. Then the spotlight on and off again during the alarm,
    // as a detection alert with lights would do.
    await phase('alarm', 8000, () => exec('alarm.start', { seconds: 18 }));
    await phase('alarmSpot', 5000, () => exec('spotlight.set', { on: true, brightness: 100 }));
    await phase('alarmSpotOff', 5500, () => exec('spotlight.set', { on: false }));
    await waitFor(() => !(b.sup.state.get().alarm as { active: boolean } | undefined)?.active, 10_000, 100);
    await phase('after', 5000);

    // (1) The frames really changed, on both lenses.
    for (const lens of ['wide', 'ptz'] as const) {
      const w = (name: string, skipMs = 0): Sample[] => window(phases[name]!.from + skipMs, phases[name]!.to, lens);
      const luma = (name: string, skipMs = SPOT_RAMP_MS + 400): number => avg(w(name, skipMs).map((s) => s.luma));
      const dark = luma('dark', 0);
      const report = Object.fromEntries(Object.keys(phases).map((k) => [k, Math.round(luma(k) * 10) / 10]));
      console.log(`[lights] ${lens} mean luma per phase`, JSON.stringify(report));
      expect(luma('spotOn') - dark, lens).toBeGreaterThan(40);
      expect(luma('spotHalf') - dark, lens).toBeGreaterThan(15);
      expect(luma('spotHalf'), lens).toBeLessThan(luma('spotOn') - 15);
      expect(Math.abs(luma('spotOff') - dark), lens).toBeLessThan(3);
      // The ramp: on the way up, frames between dark and full (at 5 fps, 600 ms is about three frames).
      const up = window(phases.spotOn!.from, phases.spotOn!.from + SPOT_RAMP_MS + 200, lens).map((s) => s.luma);
      const full = luma('spotOn');
      expect(up.some((y) => y > dark + 5 && y < full - 5), `${lens} ramp ${JSON.stringify(up.map(Math.round))}`).toBe(true);
      const ratio = (name: string): number => avg(w(name, 300).map((s) => s.r / s.b));
      const base = ratio('dark');
      expect(ratio('red') / base, lens).toBeGreaterThan(1.4);
      expect(base / ratio('blue'), lens).toBeGreaterThan(1.4);
      expect(Math.abs(ratio('redOff') / base - 1), lens).toBeLessThan(0.05);
      expect(Math.max(...w('night', 300).map((s) => s.chroma)), lens).toBe(0);
      expect(luma('night', 300) - dark, lens).toBeGreaterThan(15);
      expect(Math.min(...w('dark').map((s) => s.chroma)), lens).toBeGreaterThan(20);
      expect(Math.abs(luma('day', 300) - dark), lens).toBeLessThan(3);
      // The alarm: frames tinted red and frames tinted blue (the 150 ms alternation), brighter while the spotlight is on too.
      const al = [...w('alarm', 300), ...w('alarmSpot', 300), ...w('alarmSpotOff', 300)];
      expect(al.filter((s) => s.r / s.b > base * 1.3).length, lens).toBeGreaterThan(5);
      expect(al.filter((s) => s.r / s.b < base / 1.3).length, lens).toBeGreaterThan(5);
      expect(luma('alarmSpot') - luma('alarm', 300), lens).toBeGreaterThan(40);
      expect(Math.abs(luma('alarmSpotOff') - luma('alarm', 300)), lens).toBeLessThan(5);
      expect(Math.abs(luma('after', 1500) - dark), lens).toBeLessThan(3);
    }
    expect(b.sup.hardware.sim!.scene.rendered).toBeGreaterThan(100);
    expect(lights.filter((l) => l.source === 'spotlight').length).toBeGreaterThanOrEqual(4);
    expect(lights.filter((l) => l.source === 'strobe').length).toBeGreaterThanOrEqual(6);

    // (2) Not one episode, of any type, on either lens; and nothing for the cloud either.
    const d = await detection();
    console.log('[lights] detection', JSON.stringify({ wide: d.lenses.wide, ptz: d.lenses.ptz }));
    expect(episodes).toEqual([]);
    expect(events.filter((e) => e.kind === 'detection')).toEqual([]);
    for (const lens of ['wide', 'ptz'] as const) expect(d.lenses[lens]!.framesIn, lens).toBeGreaterThan(250);
  }, LONG_PROCESS_TEST_MS);

  it('control: a strobe line switched behind the daemon\'s back (no lights.changing) is seen as image change', async () => {
    // What makes the test above able to fail: the rendered light does reach the detector, and
    // only the camera saying "that is my light" keeps it from being an episode.
    const still = staticClip();
    const dir = detectDir({ detection: { human: { enabled: true }, vehicle: { enabled: true }, change: { enabled: true, sensitivity: 100 } } });
    const b = await bootSim({ dir, board: detectBoard(dir, { wide: still, ptz: still }), services: [coreCommands, ...captureServices, detectionService] });
    booted = b;
    const episodes: DetectionEpisode[] = [];
    b.sup.bus.on({ name: 'test' }, 'detection.episode', (e) => void episodes.push(e));
    await waitFor(async () => {
      const r = (await b.sup.commands.execute('detection.get', {}, { source: 'local' })) as { result: DetectionState };
      return r.result.model.status === 'ready' && (['wide', 'ptz'] as const).every((l) => (r.result.lenses[l]?.framesIn ?? 0) >= 15);
    }, 30_000, 250);
    expect(episodes).toEqual([]);
    b.sup.hardware.parts.strobeRed!.set(true);
    await waitFor(() => (['wide', 'ptz'] as const).every((l) => episodes.some((e) => e.lens === l && e.type === 'change' && e.phase === 'start')), 10_000, 100);
    b.sup.hardware.parts.strobeRed!.set(false);
    expect(episodes.filter((e) => e.type !== 'change')).toEqual([]);
  }, LONG_PROCESS_TEST_MS);
});
