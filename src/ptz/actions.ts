import type { AxisPosition } from '../../drivers/devices/types.js';
import { CamdError } from '../core/errors.js';
import { fitCalibration, lookAngles, type CalibrationFit, type CalibrationPair } from './calibration.js';
import type { GotoResult } from './controller.js';
import { checkSoft, clampSoft, speedByteFromPercent } from './limits.js';
import { findPreset, removePreset, upsertPreset } from './presets.js';
import type { PtzHost } from './host.js';

export const DIRECTIONS = ['up', 'down', 'left', 'right', 'up-left', 'up-right', 'down-left', 'down-right'] as const;
export type Direction = (typeof DIRECTIONS)[number];

const VECTORS: Record<Direction, [number, number]> = {
  up: [0, 1],
  down: [0, -1],
  left: [-1, 0],
  right: [1, 0],
  'up-left': [-1, 1],
  'up-right': [1, 1],
  'down-left': [-1, -1],
  'down-right': [1, -1],
};

const r2 = (v: number): number => Math.round(v * 100) / 100;
const pos2 = (p: AxisPosition): AxisPosition => ({ pan: r2(p.pan), tilt: r2(p.tilt) });

function gotoReply(r: GotoResult): Record<string, unknown> {
  return { arrived: r.arrived, ...pos2(r.position), ...(r.error ? { error: { pan: r2(r.error.pan), tilt: r2(r.error.tilt) } } : {}) };
}

/**
 * What the PTZ commands do, on top of the service's availability handling and the head arbiter
 * (head.ts): every motion runs under a `manual` lease (service.manual), so it preempts the sweep,
 * follow and patrol and is refused (`busy`) only while the head homes. Saving a preset and
 * calibrating only read the position and need no lease. Gotos answer once the head has
 * arrived, with the queried position.
 */
export class PtzActions {
  calibrationPairs: CalibrationPair[] = [];
  /** Config edits of presets/calibration one at a time: each computes on the result of the last. */
  private edits: Promise<unknown> = Promise.resolve();

  constructor(private readonly s: PtzHost) {}

  move(direction: Direction, speed: number, seconds: number): Promise<Record<string, unknown>> {
    return this.s.manual('ptz.move', async (c) => {
      const [px, ty] = VECTORS[direction];
      const b = speedByteFromPercent(speed);
      const { limited } = await c.move(px * b, ty * b, seconds * 1000);
      return { direction, speed, seconds, limited, ...pos2(c.position()) };
    });
  }

  stop(): Promise<Record<string, unknown>> {
    return this.s.manual('ptz.stop', async (c) => {
      return { ...pos2(await c.stop()) };
    });
  }

  goto(pan: number | undefined, tilt: number | undefined): Promise<Record<string, unknown>> {
    const c = this.s.ready('head');
    if (pan === undefined && tilt === undefined) throw new CamdError('invalid_args', 'give pan, tilt or both', 'pan');
    if (pan !== undefined) checkSoft(pan, c.limits.pan, 'pan');
    if (tilt !== undefined && c.limits.tilt) checkSoft(tilt, c.limits.tilt, 'tilt');
    return this.s.manual('ptz.goto', async (m) => {
      return gotoReply(await m.goto({ pan, tilt }));
    });
  }

  /** Back to the board's home position (the one target besides presets allowed at an end stop). */
  home(): Promise<Record<string, unknown>> {
    return this.s.manual('ptz.home', async (c) => {
      return gotoReply(await c.goto({ pan: c.limits.pan.home, tilt: c.limits.tilt?.home }));
    });
  }

  look(x: number, y: number): Promise<Record<string, unknown>> {
    const c = this.s.ready('head');
    const cal = this.s.ctx.config.get().ptz.calibration;
    const a = lookAngles(cal, x, y, this.s.widePanAt(this.s.ctx.clock.now()), this.s.ctx.board.ptz.widePan.homeDeg);
    const pan = clampSoft(a.pan, c.limits.pan);
    const tilt = c.limits.tilt ? clampSoft(a.tilt, c.limits.tilt) : 0;
    // A tap outside the reachable range still turns the lens as far as it may go; the reply says so.
    const clamped = pan !== a.pan || tilt !== a.tilt;
    return this.s.manual('ptz.look', async (m) => {
      return { ...gotoReply(await m.goto({ pan, tilt })), aim: pos2(a), clamped };
    });
  }

  widePan(deg: number): Promise<Record<string, unknown>> {
    const c = this.s.ready('wide');
    checkSoft(deg, c.limits.pan, 'deg');
    return this.s.use('wide', async () => {
      const r = await c.goto({ pan: deg });
      return { arrived: r.arrived, widePan: r2(r.position.pan) };
    });
  }

  presetSave(name: string): Promise<Record<string, unknown>> {
    return this.edit(() =>
      this.s.use('head', async (c) => {
        if (c.moving()) throw new CamdError('busy', 'the lens is moving: stop it where the preset should be, then save', 'name');
        const pos = await c.query();
        const cfg = this.s.ctx.config.get().ptz;
        const presets = upsertPreset(cfg.presets, { name, pan: pos.pan, tilt: pos.tilt });
        await this.s.ctx.config.patch({ ptz: { presets } }, 'ptz.preset.save');
        this.s.log.info({ name, ...pos }, 'preset saved');
        return { name, ...pos2(pos), presets: presets.map((p) => p.name) };
      }),
    );
  }

  presetGoto(name: string): Promise<Record<string, unknown>> {
    const p = findPreset(this.s.ctx.config.get().ptz.presets, name);
    return this.s.manual(`ptz.preset.goto ${name}`, async (c) => {
      return { name, ...gotoReply(await c.goto({ pan: p.pan, tilt: p.tilt })) };
    });
  }

  presetDelete(name: string): Promise<Record<string, unknown>> {
    return this.edit(async () => {
      const presets = removePreset(this.s.ctx.config.get().ptz.presets, name);
      await this.s.ctx.config.patch({ ptz: { presets } }, 'ptz.preset.delete');
      this.s.log.info({ name }, 'preset deleted');
      return { deleted: name, presets: presets.map((p) => p.name) };
    });
  }

  /**
   * One calibration pair: the PTZ lens now looks at the landmark that sits at (x, y) on the wide
   * image. Refits the model from all pairs so far and stores what they determine.
   */
  calibrate(x: number, y: number): Promise<{ pairs: number; fit: CalibrationFit; calibration: unknown }> {
    return this.edit(() =>
      this.s.use('head', async (c) => {
        if (c.moving()) throw new CamdError('busy', 'the lens is moving: aim it at the landmark first, then calibrate');
        const pos = await c.query();
        const pair: CalibrationPair = { x, y, widePan: this.s.widePanAt(this.s.ctx.clock.now()), pan: pos.pan, tilt: pos.tilt };
        const fit = fitCalibration([...this.calibrationPairs, pair]);
        if (Object.keys(fit.patch).length > 0) await this.s.ctx.config.patch({ ptz: { calibration: fit.patch } }, 'ptz.calibrate');
        // Only a pair whose fit was stored (or that needs company to fit) is kept: nothing half-applied.
        this.calibrationPairs.push(pair);
        this.s.publish();
        this.s.log.info({ pair, fit }, 'calibration pair recorded');
        return { pairs: this.calibrationPairs.length, fit, calibration: this.s.ctx.config.get().ptz.calibration };
      }),
    );
  }

  calibrateClear(): { pairs: number } {
    this.calibrationPairs = [];
    this.s.publish();
    return { pairs: 0 };
  }

  async patrolSet(on: boolean, follow: boolean | undefined): Promise<Record<string, unknown>> {
    if (on && this.s.ctx.config.get().ptz.presets.length === 0) {
      throw new CamdError('invalid_args', 'patrol needs at least one preset: save one with ptz.preset.save', 'on');
    }
    // Follow-target is part of auto patrol (the product's one switch for both): asking to follow
    // with the patrol off would be a setting that does nothing, so it is refused, saying why.
    if (!on && follow === true) {
      throw new CamdError('invalid_args', 'follow-target is part of auto patrol: switch it on with {"on": true, "follow": true}', 'follow');
    }
    // Switching patrol on is itself a manual choice: it ends the manual pause now.
    if (on) this.s.releaseManual();
    await this.s.ctx.config.patch({ ptz: { patrol: { enabled: on, ...(follow === undefined ? {} : { followTarget: follow }) } } }, 'ptz.patrol');
    this.s.evaluate();
    // followTarget: whether follow acts now (off with the patrol; the config keeps the choice for next time).
    return { enabled: this.s.ctx.config.get().ptz.patrol.enabled, followTarget: this.s.followOn(), mode: this.s.mode };
  }

  private edit<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.edits.then(fn, fn);
    this.edits = run.catch(() => undefined);
    return run;
  }
}
