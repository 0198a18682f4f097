import { blue, bold, bytes, dateTimeOf, dim, duration, green, kv, red, relative, scalar, yellow } from '../format.js';
import { inline, obj, type Obj, sectionsOf } from './sections.js';

/**
 * `camctl status` for an 80-column terminal: one titled section per part of the state (device,
 * LED, outputs, services, network, cloud, alarm, ptz, storage, capture, detection, health,
 * faults), values with units and times relative to the daemon's `now`. A part this view does not
 * know yet still shows, as `key=value` text wrapped to the width, never as one long JSON line.
 */
export function formatStatus(st: Obj, cols = 80): string {
  const now = Number(st.now);
  const board = obj(st.board);
  const lines = [bold(`camd on ${scalar(board.name)} (${scalar(board.backend)}) — ${scalar(st.lifecycle)}, boot #${scalar(st.bootCount)}, up ${duration(Number(st.uptimeMs))}`)];
  lines.push(...device(st, now, cols));
  lines.push(...led(obj(st.led), cols));
  lines.push(...sectionsOf(st, now, cols));
  const known = new Set(['now', 'board', 'lifecycle', 'bootCount', 'uptimeMs', 'bootId', 'startedAt', 'clock', 'release', 'update', 'config', 'led', 'sleeping', 'liveViewers', 'presence', ...SHOWN]);
  const rest = Object.entries(st).filter(([k]) => !known.has(k));
  if (rest.length) {
    lines.push('other');
    lines.push(...kv(rest.map(([k, v]) => [k, inline(v)]), 2, 14, cols));
  }
  return lines.join('\n');
}

/** The keys sectionsOf() shows (so the catch-all above leaves them out). */
const SHOWN = ['outputs', 'hardwareFailures', 'services', 'children', 'network', 'cloud', 'alarm', 'daynight', 'ptz', 'storage', 'recording', 'capture', 'detection', 'health', 'live', 'rtsp', 'privacy', 'secrets', 'faults'];

function device(st: Obj, now: number, cols: number): string[] {
  const rows: [string, string][] = [];
  const rel = obj(st.release);
  rows.push(...formatRelease(rel, obj(st.update), now));
  const clock = obj(st.clock);
  if (st.clock) rows.push(['clock', `${dateTimeOf(now)}${clock.synced ? '' : red(' — NOT SYNCHRONISED (times may be wrong)')}`]);
  const cfg = obj(st.config);
  const cfgErr = obj(cfg.error);
  rows.push(['config', `${scalar(cfg.source)}${cfg.error ? red(` — REJECTED ${scalar(cfgErr.file)}: ${scalar(cfgErr.path) || '(file)'}: ${scalar(cfgErr.message)}`) : ''}`]);
  if (Array.isArray(cfg.pendingRestart) && cfg.pendingRestart.length) rows.push(['', `pending restart: ${cfg.pendingRestart.map(scalar).join(', ')}`]);
  const presence = obj(st.presence);
  const awake = st.sleeping ? yellow('sleeping') : 'awake';
  rows.push(['mode', `${awake}, ${scalar(st.liveViewers ?? 0)} live viewer(s)${Number(presence.until) > now ? `, owner present until ${relative(Number(presence.until), now)}` : ''}`]);
  return ['device', ...kv(rows, 2, 12, cols)];
}

/** `0.1.0 (abc123, arm64) — on trial: start 1/3, kept after 60 s healthy` and the update in progress. */
export function formatRelease(rel: Obj, upd: Obj, now: number): [string, string][] {
  if (rel.version === undefined) return [];
  const meta = [rel.commit, rel.arch].filter(Boolean).map(scalar).join(', ');
  const trial = obj(rel.trial);
  const state = !rel.installed
    ? dim('development run (not an installed release: no updates)')
    : rel.trial
      ? yellow(`on trial: start ${scalar(trial.boots)}/${scalar(trial.maxBoots)}, kept after ${scalar(trial.needs)} s healthy${trial.healthySince ? ` (healthy for ${duration(now - Number(trial.healthySince))})` : ''}`)
      : green('installed');
  const out: [string, string][] = [['release', `${scalar(rel.version)}${meta ? ` (${meta})` : ''} — ${state}`]];
  const last = obj(rel.lastUpdate);
  if (rel.lastUpdate) {
    const outcome = last.outcome === 'updated' ? green(scalar(last.outcome)) : red(scalar(last.outcome));
    out.push(['last update', `${outcome} ${scalar(last.from)} → ${scalar(last.to)}${last.reason ? ` — ${scalar(last.reason)}` : ''}, ${relative(Number(last.ts), now)}`]);
  }
  if (upd.phase && upd.phase !== 'idle') {
    const progress = upd.phase === 'downloading' && upd.total ? ` ${Math.floor((100 * Number(upd.bytes)) / Number(upd.total))} % of ${bytes(Number(upd.total))}` : '';
    out.push(['update', `${upd.phase === 'failed' ? red(`failed: ${scalar(upd.error)}`) : `${scalar(upd.phase)}${progress}`}${upd.version ? ` (${scalar(upd.version)})` : ''}`]);
  }
  return out;
}

const colourOf = (c: unknown): ((s: string) => string) => (c === 'red' ? red : c === 'blue' ? blue : dim);

/** The LED line of `status` (and the head of `camctl led`): what it shows, which state, and why. */
export function led(l: Obj, cols = 80): string[] {
  const head = `${'LED'.padEnd(14)}${colourOf(l.color)(`${scalar(l.color)} ${scalar(l.mode)}`)}  = ${scalar(l.state)}${l.override ? yellow(' (test override)') : ''}`;
  return [head, ...kv([['because', scalar(l.reason)]], 2, 12, cols)];
}

/** `camctl led`: the LED, why, and every condition that holds (highest priority first). */
export function formatLed(l: Obj, cols = 80): string {
  const lines = led(l, cols);
  const conditions = Object.entries(obj(l.conditions));
  if (conditions.length) {
    lines.push('conditions that hold');
    lines.push(...kv(conditions.map(([k, v]) => [k === l.state ? `${k} *` : k, scalar(v)]), 2, 0, cols));
  }
  const test = obj(l.test ?? l.override);
  if (Object.keys(test).length) lines.push(...kv([['test', inline(test)]], 2, 12, cols));
  return lines.join('\n');
}

