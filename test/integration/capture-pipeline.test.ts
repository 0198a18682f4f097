import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import type { TapFrame } from '../../src/capture/types.js';
import { ledPattern } from '../../src/indicator/policy.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { PROCESS_TEST_MS, PROCESS_TIMEOUTS, patience } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

const realSetTimeout = globalThis.setTimeout;
import { copyFrame, processesMentioning, smallBoard, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';

let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  removeTestDirs();
});

async function boot(config: Record<string, unknown> = {}): Promise<BootedSim> {
  const dir = testDir(config);
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  return booted;
}

function collect(b: BootedSim): TapFrame[] {
  const frames: TapFrame[] = [];
  // Copy: the tap reuses its buffers once the handler returns.
  b.sup.bus.on({ name: 'test' }, 'capture.frame', (f) => void frames.push(copyFrame(f)));
  return frames;
}

describe('capture pipeline (real ffmpeg on real footage)', () => {
  it('taps both lenses at the configured size and rate: one event per frame, gray and rgb24 of the same instant in it', async () => {
    const b = await boot();
    const frames = collect(b);
    await waitFor(() => ['wide', 'ptz'].every((l) => frames.filter((f) => f.lens === l).length >= 6), 15_000);
    const wide = frames.filter((f) => f.lens === 'wide');
    // Every frame carries both planes, at their configured sizes.
    for (const f of wide) {
      expect(f.gray).toMatchObject({ width: 64, height: 36 });
      expect(f.gray.data.length).toBe(64 * 36);
      expect(f.rgb).toMatchObject({ width: 128, height: 72 });
      expect(f.rgb!.data.length).toBe(128 * 72 * 3);
    }
    // One event per frame: no seq twice within a run.
    expect(new Set(wide.map((f) => f.seq)).size).toBe(wide.length);
    // A real picture, not a constant: the footage has structure.
    const px = wide.at(-1)!.gray.data;
    expect(Math.max(...px) - Math.min(...px)).toBeGreaterThan(50);
    // The gray plane is the luma of the rgb plane of the same event (same instant, same field of view).
    const g = wide.at(-1)!.gray;
    const c = wide.at(-1)!.rgb!;
    const luma = (x: number, y: number) => {
      const i = ((y * 2) * 128 + x * 2) * 3;
      return 0.299 * c.data[i]! + 0.587 * c.data[i + 1]! + 0.114 * c.data[i + 2]!;
    };
    let diff = 0;
    for (let y = 0; y < 36; y += 4) for (let x = 0; x < 64; x += 4) diff += Math.abs(g.data[y * 64 + x]! - luma(x, y));
    expect(diff / (9 * 16)).toBeLessThan(25);
    // Rate: 5 fps configured. Frames are stamped at arrival and seq counts every frame ffmpeg
    // made (dropped ones too), so time per seq step is the production rate.
    const span = (wide.at(-1)!.ts - wide[0]!.ts) / (wide.at(-1)!.seq - wide[0]!.seq);
    expect(span).toBeGreaterThan(120);
    expect(span).toBeLessThan(300);
    // Tap stats reach the state every few seconds.
    await waitFor(() => (b.sup.state.get().capture?.wide?.tap.delivered ?? 0) >= 6, 12_000);
    const st = b.sup.state.get().capture!.wide!;
    expect(st).toMatchObject({ status: 'running', recording: false, orientation: 'normal', reencode: false });
    expect(st.tap.gray).toEqual({ width: 64, height: 36 });
  });

  it('restarts a kill -9ed ffmpeg and the frames come back', async () => {
    const b = await boot();
    const frames = collect(b);
    await waitFor(() => !!b.sup.state.get().children['capture.wide']?.pid && frames.some((f) => f.lens === 'wide'), 10_000);
    const pid = b.sup.state.get().children['capture.wide']!.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !existsSync(`/proc/${pid}`) || false, 5000);
    const killedAt = Date.now();
    await waitFor(() => {
      const h = b.sup.state.get().children['capture.wide'];
      return !!h?.pid && h.pid !== pid && frames.some((f) => f.lens === 'wide' && f.ts > killedAt + 100);
    }, 15_000);
    const h = b.sup.state.get().children['capture.wide']!;
    expect(h.restarts).toBeGreaterThanOrEqual(1);
    expect(h.lastExit?.signal).toBe('SIGKILL');
  });

  it('sleep really stops capture: no ffmpeg left, no frames; waking brings both back', async () => {
    const b = await boot();
    const frames = collect(b);
    await waitFor(() => frames.filter((f) => f.lens === 'ptz').length > 2 && frames.filter((f) => f.lens === 'wide').length > 2, 10_000);
    const before = processesMentioning(b.dir);
    expect(before.length).toBeGreaterThanOrEqual(2);
    const r = await b.sup.commands.execute('sleep.set', { on: true }, { source: 'cloud' });
    expect(r).toMatchObject({ ok: true, result: { sleeping: true } });
    expect(b.sup.state.get().sleeping).toBe(true);
    // Not a flag: the processes are gone…
    expect(processesMentioning(b.dir)).toEqual([]);
    for (const pid of before) expect(existsSync(`/proc/${pid}`)).toBe(false);
    // …and nothing arrives for a while.
    const n = frames.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(frames.length).toBe(n);
    expect(b.sup.state.get().capture?.wide?.status).toBe('sleeping');
    expect(b.sup.config.get().capture.sleep).toBe(true);
    // Commands that need a picture say why they cannot.
    const snap = await b.sup.commands.execute('snapshot', { lens: 'wide' }, { source: 'cloud' });
    expect(snap).toMatchObject({ ok: false, error: { code: 'unavailable' } });

    const t0 = Date.now();
    const w = await b.sup.commands.execute('sleep.set', { on: false }, { source: 'cloud' });
    expect(w).toMatchObject({ ok: true, result: { sleeping: false } });
    await waitFor(() => frames.some((f) => f.ts > t0 && f.lens === 'wide') && frames.some((f) => f.ts > t0 && f.lens === 'ptz'), 10_000);
    expect(processesMentioning(b.dir).length).toBeGreaterThanOrEqual(2);
    expect(b.sup.state.get().sleeping).toBe(false);
  });
});

describe('capture that keeps failing', () => {
  afterEach(() => vi.useRealTimers());

  it('retries with capped backoff, then raises a camera fault (fast red) and an error event; the other lens goes on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const dir = testDir();
    const events: CameraEvent[] = [];
    booted = await bootSim({
      dir,
      board: smallBoard(dir, (bd) => ({ ...bd, video: { ...bd.video, wide: { ...bd.video.wide, source: { kind: 'file', path: join(dir, 'no-such-camera.mp4'), loop: true } } } })),
      services: [coreCommands, ...captureServices],
    });
    const b = booted;
    b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
    // Real ffmpeg exits on its own (real I/O); the backoff between attempts runs on the fake clock.
    // Bounded by real time (each failing ffmpeg takes its own, longer on a busy machine), not by a count.
    const end = performance.now() + patience(8_000);
    while (!b.sup.state.get().faults['capture.wide'] && performance.now() < end) {
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => realSetTimeout(r, 20));
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(b.sup.state.get().faults['capture.wide']).toMatchObject({ kind: 'camera', component: 'capture.wide' });
    expect(b.sup.state.get().children['capture.wide']).toMatchObject({ status: 'failed' });
    expect(b.sup.state.get().children['capture.wide']!.restarts).toBeGreaterThanOrEqual(5);
    expect(ledPattern(b.sup.state.get())).toMatchObject({ state: 'camera-exception', mode: 'fast' });
    expect(events.find((e) => e.type === 'capture.failed')).toMatchObject({ kind: 'error', lens: 'wide' });
    // (Its stall watchdog may have fired under the racing fake clock, but it is not failing.)
    expect(b.sup.state.get().faults['capture.ptz']).toBeUndefined();
    expect(b.sup.state.get().lifecycle).toBe('running');
  }, PROCESS_TEST_MS);
});
