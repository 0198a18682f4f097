import type { Config } from '../config/schema.js';
import { CamdError } from '../core/errors.js';

/**
 * Presets are the daemon's own absolute positions (config ptz.presets), not the controller's
 * internal preset slots: a position queried from the controller and replayed with absolute
 * gotos. That makes them repeatable to one step (0.01°), visible and editable in the config,
 * backed up and restored with it, and they survive swapping the controller for another
 * Pelco-D head — the controller's own presets would be lost with it and cannot be read back.
 */
export type Preset = Config['ptz']['presets'][number];

export const MAX_PRESETS = 32;

export function findPreset(list: readonly Preset[], name: string): Preset {
  const p = list.find((x) => x.name === name);
  if (!p) throw new CamdError('not_found', `no preset named "${name}" (have: ${list.map((x) => x.name).join(', ') || 'none'})`, 'name');
  return p;
}

/** Replaces the preset of that name in place (keeping its patrol dwell) or appends it. */
export function upsertPreset(list: readonly Preset[], preset: Preset): Preset[] {
  const i = list.findIndex((x) => x.name === preset.name);
  if (i >= 0) return list.map((x, j) => (j === i ? { ...x, pan: preset.pan, tilt: preset.tilt } : x));
  if (list.length >= MAX_PRESETS) throw new CamdError('too_large', `at most ${MAX_PRESETS} presets; delete one first`, 'name');
  return [...list, preset];
}

export function removePreset(list: readonly Preset[], name: string): Preset[] {
  findPreset(list, name);
  return list.filter((x) => x.name !== name);
}
