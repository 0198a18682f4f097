import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import type { Timeline } from '../../drivers/timeline.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The whole supervisor on the sim board under fake timers: what the LED really did, read back
 * from the sim board's timeline of pin edges.
 */
const FAKE = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const };

let booted: BootedSim | undefined;
beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKE.toFake] });
});
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  vi.useRealTimers();
});

function tl(b: BootedSim): Timeline {
  return b.sup.hardware.timeline!;
}

/** Observe `ms` of LED behaviour starting now; returns stats for both colours. */
function observe(b: BootedSim, ms: number) {
  // Let the change that was just made take effect, so its own edge is not in the window.
  vi.advanceTimersByTime(10);
  const from = Date.now();
  vi.advanceTimersByTime(ms);
  const to = Date.now();
  return { red: tl(b).blinkStats('ledRed', from, to), blue: tl(b).blinkStats('ledBlue', from, to) };
}

describe('LED on the sim board', () => {
  it('shows solid red while booting, then blinks blue at 1 Hz (working)', async () => {
    booted = await bootSim();
    const t = tl(booted);
    const led = t.entries((e) => e.kind === 'gpio' && (e.name === 'ledRed' || e.name === 'ledBlue') && e.value === 1);
    // Boot showed solid red before anything was blue.
    expect(led[0]).toMatchObject({ name: 'ledRed', value: 1 });
    expect(led.findIndex((e) => e.kind === 'gpio' && e.name === 'ledBlue')).toBeGreaterThan(0);
    expect(booted.sup.state.get().led).toMatchObject({ state: 'working', color: 'blue', mode: 'slow' });
    const s = observe(booted, 3000);
    expect(s.blue.rises).toBe(3);
    expect(s.blue.periodMs).toBe(1000);
    expect(s.blue.dutyCycle).toBeCloseTo(0.5, 2);
    expect(s.red.rises).toBe(0);
    expect(s.red.steadyLevel).toBe(0);
  });

  const cases: [string, (b: BootedSim) => void, { color: 'red' | 'blue'; periodMs?: number; solid?: boolean }][] = [
    ['camera exception → fast red 4 Hz', (b) => b.sup.state.raiseFault('storage.card', { kind: 'camera', component: 'storage', message: 'card I/O error' }, Date.now()), { color: 'red', periodMs: 250 }],
    ['network exception → slow red 1 Hz', (b) => b.sup.state.set('network', { phase: 'exception', reason: 'cable in, no route' }), { color: 'red', periodMs: 1000 }],
    ['provisioning → fast blue 4 Hz', (b) => b.sup.state.set('network', { phase: 'provisioning', reason: 'no saved Wi-Fi' }), { color: 'blue', periodMs: 250 }],
    ['live view → solid blue', (b) => b.sup.state.set('liveViewers', 1), { color: 'blue', solid: true }],
  ];
  it.each(cases)('%s', async (_name, apply, want) => {
    booted = await bootSim();
    vi.advanceTimersByTime(1500);
    apply(booted);
    const s = observe(booted, 3000);
    const other = want.color === 'red' ? s.blue : s.red;
    const mine = want.color === 'red' ? s.red : s.blue;
    expect(other.rises).toBe(0);
    expect(other.steadyLevel).toBe(0);
    if (want.solid) {
      expect(mine.rises).toBe(0);
      expect(mine.steadyLevel).toBe(1);
    } else {
      expect(mine.periodMs).toBe(want.periodMs);
      expect(mine.rises).toBe(3000 / want.periodMs!);
      expect(mine.dutyCycle).toBeCloseTo(0.5, 2);
    }
  });

  it('a camera fault raised during live view shows once viewing stops (priority on the real pins)', async () => {
    booted = await bootSim();
    booted.sup.state.set('liveViewers', 1);
    booted.sup.state.raiseFault('capture.wide', { kind: 'camera', component: 'capture', message: 'ffmpeg keeps failing' }, Date.now());
    expect(observe(booted, 2000).blue.steadyLevel).toBe(1);
    booted.sup.state.set('liveViewers', 0);
    const s = observe(booted, 2000);
    expect(s.red.periodMs).toBe(250);
    expect(s.blue.steadyLevel).toBe(0);
  });

  it('never lights red and blue together', async () => {
    booted = await bootSim();
    booted.sup.state.set('network', { phase: 'provisioning' });
    vi.advanceTimersByTime(1100);
    booted.sup.state.set('network', { phase: 'exception' });
    vi.advanceTimersByTime(1100);
    booted.sup.state.set('liveViewers', 1);
    vi.advanceTimersByTime(600);
    const t = tl(booted);
    let red = 0;
    let blue = 0;
    for (const e of t.entries((x) => x.kind === 'gpio' && (x.name === 'ledRed' || x.name === 'ledBlue'))) {
      if (e.kind !== 'gpio') continue;
      if (e.name === 'ledRed') red = e.value;
      else blue = e.value;
      expect(red && blue).toBe(0);
    }
  });

  it('the shutdown turns every output off', async () => {
    booted = await bootSim();
    await booted.sup.ctx.commands.execute('output.set', { output: 'siren', on: true }, { source: 'local' });
    await booted.sup.ctx.commands.execute('output.set', { output: 'strobeRed', on: true }, { source: 'local' });
    const t = tl(booted);
    const at = Date.now();
    expect(t.levelAt('siren', at)).toBe(1);
    await booted.sup.shutdown('test');
    const end = Date.now();
    for (const name of ['ledRed', 'ledBlue', 'strobeRed', 'strobeBlue', 'siren', 'spotlightEnable']) expect(t.levelAt(name, end)).toBe(0);
    expect(await booted.sup.done).toEqual({ action: 'exit', code: 0, reason: 'test' });
  });
});
