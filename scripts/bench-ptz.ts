/**
 * PTZ repeatability on the sim twin, through the real code path: the PelcoDMotor driver on the
 * simulated RS-485 line, the Pelco-D twin of the head, and the daemon's MotorController (the
 * same goto/verify and homing the ptz service runs). Time is virtual, so hundreds of moves of
 * several seconds each take a fraction of a second and the result does not depend on load.
 *
 * - preset repeatability: a preset is saved the way `ptz.preset.save` does (position queried
 *   from the controller), then the head is sent somewhere random — by an absolute goto or by a
 *   continuous move of random direction, speed and length — and back to the preset; the error
 *   is |twin position − preset| per axis (goal: within one step, 0.01°).
 * - home after boot: the head is left at a random position (turned while powered off), a fresh
 *   controller boots and homes; the error is |twin position − board home|.
 *
 * Run alone: `node --import tsx scripts/bench-ptz.ts`; or through `npm run bench`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { loadBoard, type Board } from '../board/schema.js';
import { decodeFrame, pelcoD } from '../drivers/devices/pelco-d.js';
import { PelcoDTwin } from '../drivers/devices/pelco-d-twin.js';
import { PelcoDBus, PelcoDMotor } from '../drivers/devices/ptz-motor.js';
import { createSimSerialPair } from '../drivers/serial/sim.js';
import { Timeline } from '../drivers/timeline.js';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { MotorController } from '../src/ptz/controller.js';
import { axisLimits, speedByteFromPercent } from '../src/ptz/limits.js';
import { mulberry32 } from '../src/core/prng.js';

/** A clock whose time only moves when `run` finds nothing else to do but wait for a timer. */
class VirtualClock implements Clock {
  private t = 1_700_000_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }
  clearTimeout(h: TimerHandle | undefined): void {
    if (h !== undefined) this.timers.delete(h as unknown as number);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn, every: Math.max(1, ms) });
    return id as unknown as TimerHandle;
  }
  clearInterval(h: TimerHandle | undefined): void {
    this.clearTimeout(h);
  }

  /** Lets I/O ticks and promises run; when all is idle, jumps to the next timer. */
  async run<T>(p: Promise<T>): Promise<T> {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    for (let guard = 0; !done && guard < 1_000_000; guard++) {
      await new Promise((r) => setImmediate(r));
      if (done) break;
      const next = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) continue;
      const [id, timer] = next;
      this.t = Math.max(this.t, timer.at);
      if (timer.every) timer.at = this.t + timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    return p;
  }

  /** Lets virtual time pass (timers fire on the way). */
  async wait(ms: number): Promise<void> {
    let fired = false;
    this.setTimeout(() => (fired = true), ms);
    await this.run(
      (async () => {
        while (!fired) await new Promise((r) => setImmediate(r));
      })(),
    );
  }
}

interface Rig {
  clock: VirtualClock;
  twin: PelcoDTwin;
  ctrl: MotorController;
  close(): void;
}

/** One "boot": a fresh bus, driver and controller on a twin that keeps its physical position. */
function boot(board: Board, clock: VirtualClock, twin?: PelcoDTwin): Rig {
  const timeline = new Timeline(clock, { capacity: 1000 });
  const pair = createSimSerialPair('rs485', timeline);
  const t = twin ?? new PelcoDTwin({ address: board.ptz.ptzAddress, clock, pan: board.ptz.pan, tilt: board.ptz.tilt });
  t.attach(pair.device);
  const bus = new PelcoDBus(pair.host, { clock, replyTimeoutMs: board.ptz.replyTimeoutMs });
  const motor = new PelcoDMotor(bus, board.ptz.ptzAddress, { tilt: true });
  const ctrl = new MotorController({
    name: 'ptz',
    motor,
    pan: axisLimits(board.ptz.pan),
    tilt: axisLimits(board.ptz.tilt),
    clock,
    log: pino({ level: 'silent' }),
    onChange: () => undefined,
  });
  return {
    clock,
    twin: t,
    ctrl,
    close() {
      ctrl.dispose();
      bus.close();
      t.detach();
    },
  };
}


const between = (r: () => number, lo: number, hi: number): number => lo + r() * (hi - lo);

export async function benchPtz(opts: { trials?: number; boots?: number } = {}): Promise<Record<string, number>> {
  const trials = opts.trials ?? 200;
  const boots = opts.boots ?? 30;
  const board = loadBoard(resolve(import.meta.dirname, '../board/sim.json'));
  const pan = axisLimits(board.ptz.pan);
  const tilt = axisLimits(board.ptz.tilt);
  const random = mulberry32(20240501); // deterministic, so runs are comparable
  const clock = new VirtualClock();

  // Preset repeatability.
  const rig = boot(board, clock);
  await clock.run(rig.ctrl.home());
  const presetErrors: number[] = [];
  let notArrived = 0;
  let preset = { pan: pan.home, tilt: tilt.home };
  for (let i = 0; i < trials; i++) {
    // A new preset every 20 trials, saved as ptz.preset.save does: the queried position.
    if (i % 20 === 0) {
      await clock.run(rig.ctrl.goto({ pan: between(random, pan.min, pan.max), tilt: between(random, tilt.min, tilt.max) }));
      preset = await clock.run(rig.ctrl.query());
    }
    if (random() < 0.5) {
      await clock.run(rig.ctrl.goto({ pan: between(random, pan.min, pan.max), tilt: between(random, tilt.min, tilt.max) }));
    } else {
      const dir = Math.floor(random() * 3) - 1 || 1;
      const tdir = Math.floor(random() * 3) - 1;
      await clock.run(rig.ctrl.move(dir * speedByteFromPercent(between(random, 1, 100)), tdir * speedByteFromPercent(between(random, 1, 100)), 60_000));
      await clock.wait(between(random, 100, 4000));
      await clock.run(rig.ctrl.stop());
    }
    const r = await clock.run(rig.ctrl.goto(preset));
    if (!r.arrived) notArrived++;
    const at = rig.twin.position();
    presetErrors.push(Math.max(Math.abs(at.pan - preset.pan), Math.abs(at.tilt - preset.tilt)));
  }
  rig.close();

  // Home after boot from a random position.
  const homeErrors: number[] = [];
  for (let i = 0; i < boots; i++) {
    const twin = new PelcoDTwin({ address: board.ptz.ptzAddress, clock, pan: board.ptz.pan, tilt: board.ptz.tilt });
    twin.handle(decodeFrame(pelcoD.setPanPosition(twin.address, between(random, board.ptz.pan.minDeg, board.ptz.pan.maxDeg))));
    twin.handle(decodeFrame(pelcoD.setTiltPosition(twin.address, between(random, board.ptz.tilt.minDeg, board.ptz.tilt.maxDeg))));
    await clock.wait(10_000);
    const b = boot(board, clock, twin);
    const r = await clock.run(b.ctrl.home());
    if (!r.arrived) notArrived++;
    const at = twin.position();
    homeErrors.push(Math.max(Math.abs(at.pan - pan.home), Math.abs(at.tilt - tilt.home)));
    b.close();
  }

  const max = (xs: number[]): number => Math.max(...xs);
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  const round = (v: number): number => Math.round(v * 1e6) / 1e6;
  const step = Math.min(pan.stepDeg, tilt.stepDeg);
  return {
    'ptz preset trials': trials,
    'ptz preset max error (deg)': round(max(presetErrors)),
    'ptz preset mean error (deg)': round(mean(presetErrors)),
    'ptz preset trials within one step (0.01 deg) %': round((100 * presetErrors.filter((e) => e <= step + 1e-9).length) / presetErrors.length),
    'ptz boots from a random position': boots,
    'ptz home max error after boot (deg)': round(max(homeErrors)),
    'ptz home mean error after boot (deg)': round(mean(homeErrors)),
    'ptz moves not confirmed by query': notArrived,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void benchPtz().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(52)} ${v}\n`);
  });
}
