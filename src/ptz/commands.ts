import { z } from 'zod';
import { NoArgs } from '../commands/registry.js';
import { DIRECTIONS, type PtzActions } from './actions.js';
import type { PtzHost } from './host.js';

const angle = z.number().min(-360).max(360);
const unit = z.number().min(0).max(1);
const presetName = z.string().min(1).max(32).regex(/^[^\u0000-\u001f]+$/, 'no control characters');

/** The PTZ command table: same schemas for camctl and MQTT `cmd/<name>`. */
export function registerPtzCommands(s: PtzHost, a: PtzActions): void {
  const { commands } = s.ctx;
  commands.register(s, {
    name: 'ptz.move',
    access: 'cloud',
    summary: 'move the PTZ lens continuously (direction, speed 1..100 %) until ptz.stop, a soft limit or `seconds` (safety timeout)',
    args: z.object({ direction: z.enum(DIRECTIONS), speed: z.number().int().min(1).max(100).default(50), seconds: z.number().min(0.2).max(60).default(10) }).strict(),
    handler: ({ direction, speed, seconds }) => a.move(direction, speed, seconds),
  });
  commands.register(s, { name: 'ptz.stop', access: 'cloud', summary: 'stop the PTZ lens', args: NoArgs, handler: () => a.stop() });
  commands.register(s, {
    name: 'ptz.goto',
    access: 'cloud',
    summary: 'turn the PTZ lens to absolute pan/tilt degrees (within the soft limits); answers on arrival',
    args: z.object({ pan: angle.optional(), tilt: angle.optional() }).strict(),
    handler: ({ pan, tilt }) => a.goto(pan, tilt),
  });
  commands.register(s, { name: 'ptz.home', access: 'cloud', summary: "turn the PTZ lens to the board's home position", args: NoArgs, handler: () => a.home() });
  commands.register(s, {
    name: 'ptz.look',
    access: 'cloud',
    summary: 'tap to look: turn the PTZ lens to a point of the wide image (x, y normalised, 0,0 = top left)',
    args: z.object({ x: unit, y: unit }).strict(),
    handler: ({ x, y }) => a.look(x, y),
  });
  commands.register(s, {
    name: 'ptz.calibrate',
    access: 'cloud',
    summary: 'tap-to-look calibration: the PTZ lens now centres the landmark at (x, y) of the wide image; refits the model',
    args: z.object({ x: unit, y: unit }).strict(),
    handler: ({ x, y }) => a.calibrate(x, y),
  });
  commands.register(s, { name: 'ptz.calibrate.clear', access: 'cloud', summary: 'forget the calibration pairs recorded so far (the stored model stays)', args: NoArgs, handler: () => a.calibrateClear() });
  commands.register(s, {
    name: 'ptz.preset.save',
    access: 'cloud',
    summary: 'store where the PTZ lens points now (queried from the controller) as a named preset',
    args: z.object({ name: presetName }).strict(),
    handler: ({ name }) => a.presetSave(name),
  });
  commands.register(s, { name: 'ptz.preset.goto', access: 'cloud', summary: 'turn the PTZ lens to a preset', args: z.object({ name: presetName }).strict(), handler: ({ name }) => a.presetGoto(name) });
  commands.register(s, { name: 'ptz.preset.delete', access: 'cloud', summary: 'delete a preset', args: z.object({ name: presetName }).strict(), handler: ({ name }) => a.presetDelete(name) });
  commands.register(s, {
    name: 'ptz.patrol',
    access: 'cloud',
    summary: 'auto patrol over the presets on/off; `follow` also sets follow-target',
    args: z.object({ on: z.boolean(), follow: z.boolean().optional() }).strict(),
    handler: ({ on, follow }) => a.patrolSet(on, follow),
  });
  commands.register(s, {
    name: 'wide.pan',
    access: 'cloud',
    summary: 'pan the wide-angle lens to absolute degrees (within the soft limits; its tilt is set by hand)',
    args: z.object({ deg: angle }).strict(),
    handler: ({ deg }) => a.widePan(deg),
  });
  commands.register(s, { name: 'ptz.get', access: 'cloud', summary: 'PTZ state: position, mode, presets, patrol, follow target', args: NoArgs, handler: () => s.snapshot() });
}
