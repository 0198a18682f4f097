import { formatInZone } from '../core/timezone.js';

/** Plain-text views for a plain SSH terminal: no colour codes unless stdout is a TTY. */
const tty = process.stdout.isTTY === true;
const paint = (code: number) => (s: string) => (tty ? `\u001b[${code}m${s}\u001b[0m` : s);
export const red = paint(31);
export const green = paint(32);
export const yellow = paint(33);
export const blue = paint(34);
export const dim = paint(2);

export function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});

export function formatStatus(st: Obj): string {
  const now = Number(st.now);
  const lines: string[] = [];
  const board = obj(st.board);
  lines.push(`camd on ${board.name} (${board.backend}) — ${st.lifecycle}, boot #${st.bootCount}, up ${ago(Number(st.uptimeMs))}`);
  const clock = obj(st.clock);
  if (st.clock) lines.push(`clock    ${formatInZone(now, zone)}${clock.synced ? '' : red(' — NOT SYNCHRONISED (times may be wrong)')}`);
  lines.push(...formatRelease(obj(st.release), obj(st.update), now));
  const led = obj(st.led);
  const ledColor = led.color === 'red' ? red : led.color === 'blue' ? blue : dim;
  lines.push(`LED      ${ledColor(`${led.color} ${led.mode}`)}  = ${led.state}${led.override ? ' (test override)' : ''}  because ${led.reason}`);
  const net = obj(st.network);
  lines.push(`network  ${net.phase}${net.reason ? ` — ${net.reason}` : ''}`);
  const cfg = obj(st.config);
  const cfgErr = obj(cfg.error);
  lines.push(`config   ${cfg.source}${cfg.error ? red(` — REJECTED ${cfgErr.file}: ${cfgErr.path || '(file)'}: ${cfgErr.message}`) : ''}`);
  if (Array.isArray(cfg.pendingRestart) && cfg.pendingRestart.length) lines.push(`         pending restart: ${cfg.pendingRestart.join(', ')}`);
  lines.push('outputs');
  for (const [k, v] of Object.entries(obj(st.outputs))) lines.push(`  ${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  const failures = obj(st.hardwareFailures);
  for (const [k, v] of Object.entries(failures)) lines.push(`  ${k.padEnd(16)} ${red(`FAILED: ${String(v)}`)}`);
  lines.push('services');
  for (const [k, v] of Object.entries(obj(st.services))) {
    const s = obj(v);
    const mark = s.status === 'running' ? green('running') : s.status === 'failed' ? red('failed') : String(s.status);
    lines.push(`  ${k.padEnd(16)} ${mark}${s.error ? ` — ${s.error}` : ''}`);
  }
  const children = Object.entries(obj(st.children));
  if (children.length) {
    lines.push('children');
    for (const [k, v] of children) {
      const c = obj(v);
      lines.push(`  ${k.padEnd(16)} ${c.status} pid=${c.pid ?? '-'} restarts=${c.restarts}${c.lastError ? ` last error: ${c.lastError}` : ''}`);
    }
  }
  const faults = Object.entries(obj(st.faults));
  lines.push(faults.length ? 'faults' : `faults   ${green('none')}`);
  for (const [k, v] of faults) {
    const f = obj(v);
    lines.push(`  ${red(k)} (${f.kind}) ${f.message} — since ${ago(now - Number(f.since))} ago`);
  }
  const known = new Set(['clock', 'release', 'update', 'now', 'board', 'lifecycle', 'bootCount', 'uptimeMs', 'led', 'network', 'config', 'outputs', 'hardwareFailures', 'services', 'children', 'faults', 'bootId', 'startedAt']);
  for (const [k, v] of Object.entries(st)) {
    if (known.has(k)) continue;
    lines.push(`${k.padEnd(8)} ${JSON.stringify(v)}`);
  }
  return lines.join('\n');
}

/** `release 1.2.3 (abc123, arm64) — on trial: start 1/3, kept after 60 s healthy` and the update in progress. */
export function formatRelease(rel: Obj, upd: Obj, now: number): string[] {
  if (rel.version === undefined) return [];
  const meta = [rel.commit, rel.arch].filter(Boolean).join(', ');
  const trial = obj(rel.trial);
  const state = !rel.installed
    ? dim('development run (not an installed release: no updates)')
    : rel.trial
      ? yellow(`on trial: start ${trial.boots}/${trial.maxBoots}, kept after ${trial.needs} s healthy${trial.healthySince ? ` (healthy ${ago(now - Number(trial.healthySince))})` : ''}`)
      : green('installed');
  const out = [`release  ${rel.version}${meta ? ` (${meta})` : ''} — ${state}`];
  const last = obj(rel.lastUpdate);
  if (rel.lastUpdate) out.push(`         last update: ${last.outcome === 'updated' ? green(String(last.outcome)) : red(String(last.outcome))} ${last.from} → ${last.to}${last.reason ? ` — ${last.reason}` : ''}, ${ago(now - Number(last.ts))} ago`);
  if (upd.phase && upd.phase !== 'idle') {
    const progress = upd.phase === 'downloading' && upd.total ? ` ${Math.floor((100 * Number(upd.bytes)) / Number(upd.total))} % of ${(Number(upd.total) / 1e6).toFixed(1)} MB` : '';
    out.push(`update   ${upd.phase === 'failed' ? red(`failed: ${upd.error}`) : `${upd.phase}${progress}`}${upd.version ? ` (${upd.version})` : ''}`);
  }
  return out;
}

/**
 * The zone times are shown in: `device.timezone` (camctl reads it from the daemon once per run).
 * Only display: whatever camctl prints as JSON keeps the daemon's UTC epoch milliseconds.
 */
let zone = 'UTC';
export function setDisplayZone(z: string): void {
  zone = z;
}
const clockOf = (ms: number): string => formatInZone(ms, zone, { ms: true, date: false });

export function formatLogLine(l: Obj): string {
  const lvl: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
  const { time, level, component, msg, pid: _pid, ...rest } = l;
  const t = clockOf(Number(time));
  const lv = lvl[Number(level)] ?? String(level);
  const colored = Number(level) >= 50 ? red(lv) : Number(level) >= 40 ? yellow(lv) : lv;
  const extra = Object.keys(rest).length ? ` ${dim(JSON.stringify(rest))}` : '';
  return `${t} ${colored} [${component}] ${msg ?? ''}${extra}`;
}

export function formatTimelineEntry(e: Obj): string {
  const t = clockOf(Number(e.t));
  const hex = (xs: unknown): string => (Array.isArray(xs) ? xs.map((b) => Number(b).toString(16).padStart(2, '0')).join(' ') : '');
  if (e.kind === 'gpio') return `${t} gpio   ${String(e.name).padEnd(16)} line ${String(e.line).padStart(3)} = ${e.value}${e.physical !== undefined && e.physical !== e.value ? ` (physical ${e.physical})` : ''}`;
  if (e.kind === 'i2c') return `${t} i2c    ${String(e.bus).padEnd(16)} 0x${Number(e.address).toString(16)} ${e.dir} ${e.register === null ? '' : `reg 0x${Number(e.register).toString(16)} `}[${hex(e.bytes)}]`;
  return `${t} serial ${String(e.port).padEnd(16)} ${e.dir} [${hex(e.bytes)}]`;
}
