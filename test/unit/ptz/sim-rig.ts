import { afterEach, beforeEach, vi } from 'vitest';
import type { HardwareOptions } from '../../../drivers/hardware.js';
import { decodeFrame, pelcoD } from '../../../drivers/devices/pelco-d.js';
import type { PelcoDTwin } from '../../../drivers/devices/pelco-d-twin.js';
import type { CommandResult } from '../../../src/commands/registry.js';
import { PtzService } from '../../../src/ptz/service.js';
import { bootSim, type BootedSim } from '../../harness/boot.js';

/**
 * Shared by the ptz-*.test.ts integration tests. The PTZ service on the whole sim supervisor: the real PelcoDMotor driver talking Pelco-D over
 * the simulated RS-485 line to the sim twins of both receivers, under fake timers.
 */
export const FAKE = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

export interface PtzRig {
  b: BootedSim;
  svc: PtzService;
  head: PelcoDTwin;
  wide: PelcoDTwin;
  run(name: string, args?: unknown): Promise<CommandResult>;
  /** Runs a command while advancing the fake clock until it answers. */
  exec(name: string, args?: unknown, maxMs?: number): Promise<CommandResult>;
  dispose(): Promise<void>;
}

/** Turns a twin by hand, as if someone had moved the head while the camera was off. */
export async function displace(twin: PelcoDTwin, pan: number, tilt?: number): Promise<void> {
  twin.handle(decodeFrame(pelcoD.setPanPosition(twin.address, pan)));
  if (tilt !== undefined) twin.handle(decodeFrame(pelcoD.setTiltPosition(twin.address, tilt)));
  await vi.advanceTimersByTimeAsync(15_000);
}

/**
 * Advances the fake clock in small steps until `p` settles, or `maxMs` of fake time passed.
 * `realMs` bounds the wait for promises that also need real I/O (booting reads config files).
 */
export async function settle<T>(p: Promise<T>, maxMs = 20_000, stepMs = 10, realMs = 0): Promise<T> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  const realEnd = performance.now() + realMs;
  for (let t = 0; !done && (t < maxMs || performance.now() < realEnd); t += stepMs) {
    // Real I/O (config files at boot) needs turns of the real event loop between fake steps.
    await new Promise((r) => setImmediate(r));
    await vi.advanceTimersByTimeAsync(stepMs);
  }
  return p;
}

export async function bootPtz(opts: { before?: (b: BootedSim) => Promise<void>; hardware?: HardwareOptions; home?: boolean } = {}): Promise<PtzRig> {
  // The service is started by hand after the board is up, so a test can move the twins first.
  // A silent receiver costs a reply timeout at open: the clock must run while the board opens.
  const b = await settle(bootSim({ services: [], hardware: opts.hardware }), 1000, 10, 20_000);
  await opts.before?.(b);
  const svc = new PtzService(b.sup.ctx);
  await svc.start();
  const twins = b.sup.hardware.sim!.twins;
  const run = (name: string, args: unknown = {}): Promise<CommandResult> => b.sup.commands.execute(name, args, { source: 'local' });
  const rig: PtzRig = {
    b,
    svc,
    head: twins.ptz!,
    wide: twins.widePan!,
    run,
    exec: (name, args = {}, maxMs = 20_000) => settle(run(name, args), maxMs),
    async dispose() {
      await svc.stop();
      b.sup.commands.removeOwner(svc);
      b.sup.bus.removeOwner(svc);
      await b.dispose();
    },
  };
  if (opts.home !== false) {
    // Homing: the slower of the two motors (wide lens, 30°/s over up to 170°) takes under 6 s.
    for (let i = 0; i < 200 && !(svc.slots.head.status !== 'homing' && svc.slots.wide.status !== 'homing'); i++) await vi.advanceTimersByTimeAsync(50);
  }
  return rig;
}

/** The hooks every rig test file needs: fake timers around each test, the rig disposed after it. */
export function rigHooks(current: () => PtzRig | undefined, clear: () => void): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKE] });
  });
  afterEach(async () => {
    await current()?.dispose();
    clear();
    vi.useRealTimers();
  });
}
