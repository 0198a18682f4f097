import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  vi.useRealTimers();
});

async function ownerSetUp(b: BootedSim): Promise<void> {
  await b.sup.config.patch({ device: { name: 'Front door' }, detection: { human: { sensitivity: 20 } } }, 'test');
  await b.sup.secrets.update(() => ({ wifi: { ssid: 'home', psk: 'correct horse' }, binding: { token: 'binding-token-123', boundAt: 1 } }));
}

describe('RESET button on the sim board', () => {
  it('held 5.2 s: factory reset (settings and credentials gone) then restart', async () => {
    booted = await bootSim();
    const { sup } = booted;
    await ownerSetUp(booted);
    const events: CameraEvent[] = [];
    sup.bus.on({}, 'camera.event', (e) => void events.push(e));
    const r = await sup.ctx.commands.execute('sim.press', { button: 'reset', ms: 5200 }, { source: 'local' });
    expect(r.ok).toBe(true);
    await vi.advanceTimersByTimeAsync(4900);
    expect(existsSync(sup.config.file)).toBe(true);
    await vi.advanceTimersByTimeAsync(200);
    const outcome = await sup.done;
    expect(outcome).toMatchObject({ action: 'restart' });
    expect(existsSync(sup.config.file)).toBe(false);
    expect(existsSync(sup.secrets.file)).toBe(false);
    expect(events.map((e) => e.type)).toContain('reset.factory');

    // The "reboot": a new supervisor on the same dirs boots with the factory defaults.
    const again = await bootSim({ dir: booted.dir, dataDir: join(booted.dir, 'data'), runDir: join(booted.dir, 'run'), cardMount: join(booted.dir, 'card') });
    try {
      expect(again.sup.config.get().device.name).toBe('Camera');
      expect(again.sup.config.get().detection.human.sensitivity).toBe(50);
      expect(again.sup.secrets.get()).toEqual({});
      expect(again.sup.state.get().bootCount).toBe(2);
    } finally {
      await again.sup.shutdown('test');
    }
  });

  it('a 2 s press changes nothing and is reported as a short press', async () => {
    booted = await bootSim();
    const { sup } = booted;
    await ownerSetUp(booted);
    const events: CameraEvent[] = [];
    sup.bus.on({}, 'camera.event', (e) => void events.push(e));
    await sup.ctx.commands.execute('sim.press', { button: 'reset', ms: 2000 }, { source: 'local' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sup.config.get().device.name).toBe('Front door');
    expect(sup.secrets.get().wifi?.ssid).toBe('home');
    expect(sup.state.get().lifecycle).toBe('running');
    const short = events.find((e) => e.type === 'reset.short-press');
    expect(short?.data?.heldMs).toBe(2000);
  });

  it('a button held through power-on is ignored until released; a later 5 s hold still resets', async () => {
    const { controlServer } = await import('../../src/control/server.js');
    const { coreCommands } = await import('../../src/supervisor/core-commands.js');
    const { indicatorService } = await import('../../src/indicator/service.js');
    const { resetService } = await import('../../src/reset/service.js');
    // Holds the button before the reset service starts, as a finger would through power-up.
    const holdAtBoot = (ctx: import('../../src/supervisor/service.js').Context) => ({
      name: 'hold-at-boot',
      start: async () => {
        ctx.hardware.sim!.setInput('reset', 1);
        await vi.advanceTimersByTimeAsync(100);
      },
      stop: async () => undefined,
    });
    booted = await bootSim({ services: [controlServer, coreCommands, holdAtBoot, indicatorService, resetService] });
    const { sup } = booted;
    await ownerSetUp(booted);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(sup.state.get().lifecycle).toBe('running');
    expect(sup.config.get().device.name).toBe('Front door');
    booted.sup.hardware.sim!.setInput('reset', 0);
    await vi.advanceTimersByTimeAsync(100);
    void booted.sup.hardware.sim!.press('reset', 5100);
    await vi.advanceTimersByTimeAsync(5200);
    expect(await sup.done).toMatchObject({ action: 'restart' });
    expect(existsSync(sup.config.file)).toBe(false);
  });

  it('a 20 ms bounce is not a press at all', async () => {
    booted = await bootSim();
    const changes: unknown[] = [];
    booted.sup.bus.on({}, 'button.changed', (e) => void changes.push(e));
    void booted.sup.hardware.sim!.press('reset', 20);
    await vi.advanceTimersByTimeAsync(1000);
    expect(changes).toEqual([]);
  });

  it('factory-reset from the cloud needs physical presence (a short RESET press) and a confirmation token', async () => {
    booted = await bootSim();
    const { sup } = booted;
    await ownerSetUp(booted);
    // A bound camera: the cloud alone may not wipe the owner's binding and Wi-Fi.
    expect(await sup.ctx.commands.execute('factory-reset', {}, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await sup.ctx.commands.execute('sim.press', { button: 'reset', ms: 300 }, { source: 'local' })).toMatchObject({ ok: true });
    await vi.advanceTimersByTimeAsync(400);
    expect(sup.state.get().presence.until).not.toBeNull();
    const first = await sup.ctx.commands.execute('factory-reset', {}, { source: 'cloud' });
    expect(first).toMatchObject({ ok: false, error: { code: 'confirmation_required', path: 'confirm' } });
    const wrong = await sup.ctx.commands.execute('factory-reset', { confirm: 'guess' }, { source: 'cloud' });
    expect(wrong).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    expect(sup.config.get().device.name).toBe('Front door');
    const token = /confirm="([^"]+)"/.exec(first.ok ? '' : first.error.message)![1];
    expect(await sup.ctx.commands.execute('factory-reset', { confirm: token }, { source: 'cloud' })).toMatchObject({ ok: true });
    await vi.advanceTimersByTimeAsync(100);
    expect(await sup.done).toMatchObject({ action: 'restart' });
    expect(sup.secrets.get()).toEqual({});
  });
});

describe('boot robustness', () => {
  it('a device part that fails to open: the daemon runs, the state says what is broken, LED fast red', async () => {
    booted = await bootSim({ hardware: { simFailParts: ['siren'] } });
    const st = booted.sup.state.get();
    expect(st.lifecycle).toBe('running');
    expect(st.faults['hardware.siren']).toMatchObject({ kind: 'camera' });
    expect(st.led).toMatchObject({ state: 'camera-exception', color: 'red', mode: 'fast' });
    const r = await booted.sup.ctx.commands.execute('output.set', { output: 'siren', on: true }, { source: 'local' });
    expect(r).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect((await booted.sup.ctx.commands.execute('output.set', { output: 'strobeBlue', on: true }, { source: 'local' })).ok).toBe(true);
  });

  it('a service disabled on the command line is not started and says so', async () => {
    booted = await bootSim({ disabled: ['reset'] });
    expect(booted.sup.state.get().services.reset?.status).toBe('disabled');
    expect(booted.sup.commands.has('factory-reset')).toBe(false);
    expect(booted.sup.state.get().lifecycle).toBe('running');
  });

  it('a corrupt config file: boots on the defaults and the state shows file, path and problem', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'camd-corrupt-'));
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'config.json'), '{"detection": {"human": {"sensitivity": "high"}}}');
    booted = await bootSim({ dir, dataDir: join(dir, 'data'), runDir: join(dir, 'run'), cardMount: join(dir, 'card') });
    const cfg = booted.sup.state.get().config!;
    expect(cfg.source).toBe('defaults');
    expect(cfg.error).toMatchObject({ path: 'detection.human.sensitivity', file: join(dir, 'data', 'config.json') });
    const status = await booted.sup.ctx.commands.execute('status', {}, { source: 'local' });
    expect(status.ok && (status.result as { config: unknown }).config).toMatchObject({ error: { path: 'detection.human.sensitivity' } });
  });
});
