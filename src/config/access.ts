import { CamdError } from '../core/errors.js';
import { mayUse, ruleText, type Access, type CommandSource } from '../commands/registry.js';

/**
 * Who may change which setting (README "Who may do what"). `config.set` and `config/desired`
 * check the paths a patch really changes against this table before anything is written, so a
 * refused patch changes nothing — and a full document that repeats the current values of local
 * settings is still accepted from the cloud.
 *
 * The longest matching prefix wins; every top-level group is listed, so no setting is classed by
 * accident (a unit test walks every leaf of the schema).
 */
export interface SettingRule {
  path: string;
  access: Access;
  why: string;
}

export const SETTINGS_ACCESS: readonly SettingRule[] = [
  { path: 'version', access: 'local', why: 'the file format; only a local migration changes it' },
  { path: 'device', access: 'cloud', why: 'labels the owner reads: name and time zone' },
  { path: 'log', access: 'cloud', why: 'log verbosity; secrets are redacted at every level' },
  { path: 'indicator', access: 'cloud', why: 'owners may switch the status LED off; the solid blue of a live view shows regardless' },
  { path: 'cloud', access: 'local', why: 'where and how the camera connects (broker URL, plaintext, topics): a compromised backend must not move or weaken its own link' },
  { path: 'live', access: 'local', why: 'plaintext and local-network push/talk targets widen where the camera connects' },
  { path: 'rtsp', access: 'local', why: 'the RTSP stream opens a listening port on the LAN: a compromised backend must not open it' },
  { path: 'network', access: 'cloud', why: 'the choice between the links the owner set up; adds no network' },
  { path: 'update', access: 'local', why: 'how a new release is tried: a compromised backend must not shorten the trial that rolls a bad release back' },
  { path: 'health', access: 'cloud', why: 'sampling interval only' },
  { path: 'lenses', access: 'cloud', why: 'orientation and quality: operating the camera' },
  { path: 'capture', access: 'cloud', why: 'tap sizes and sleep (privacy) mode, switched from the app' },
  { path: 'recording', access: 'cloud', why: 'what the card keeps; turning audio recording on shows in the state and raises an event' },
  { path: 'detection', access: 'cloud', why: 'operating the camera (algorithms, areas, sensitivity)' },
  { path: 'lights', access: 'cloud', why: 'deterrents, bounded in on-time whatever the setting' },
  { path: 'audio', access: 'cloud', why: 'deterrents, bounded in on-time whatever the setting' },
  { path: 'alarm', access: 'cloud', why: 'alarm duration (bounded by the schema) and maintenance mode' },
  { path: 'daynight', access: 'cloud', why: 'operating the camera: day/night mode and its light thresholds' },
  { path: 'ptz', access: 'cloud', why: 'operating the camera (presets, patrol, calibration)' },
  { path: 'homeassistant', access: 'local', why: 'discovery and raw pictures widen what the camera publishes and to whom (every client of the broker)' },
];

/** The rule for one dotted path (longest prefix), or undefined for a path no rule covers. */
export function settingRule(path: string): SettingRule | undefined {
  let best: SettingRule | undefined;
  for (const r of SETTINGS_ACCESS) {
    if ((path === r.path || path.startsWith(`${r.path}.`)) && (!best || r.path.length > best.path.length)) best = r;
  }
  return best;
}

/**
 * Throws `forbidden` naming the first changed path `source` may not change; nothing is written
 * by the caller then. A path no rule covers is refused to the cloud (fail closed).
 */
export function authorizeSettings(changed: readonly string[], source: CommandSource, presence: () => boolean): void {
  for (const path of changed) {
    const rule = settingRule(path);
    const access = rule?.access ?? 'local';
    if (!mayUse(access, source, presence)) {
      throw new CamdError('forbidden', `setting ${path}: ${ruleText(access)} (${rule?.why ?? 'no rule covers it'})`, path);
    }
  }
}
