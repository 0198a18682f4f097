import { bytes, green, kv, padVisible, percent, red, relative, scalar, table, yellow } from '../format.js';

/**
 * The sections of `camctl status` after the device and the LED. Each reads its part of the state
 * as untyped JSON (camctl may talk to an older or newer daemon): a field that is missing shows as
 * `-` and never throws.
 */
export type Obj = Record<string, unknown>;
export const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
export const onOff = (v: unknown): string => (v === true ? 'on' : v === false ? 'off' : scalar(v));
const yesNo = (v: unknown): string => (v ? 'yes' : 'no');

/** An object on one line as `key=value` pairs (nested objects in braces): the catch-all view. */
export function inline(v: unknown): string {
  if (Array.isArray(v)) return v.length ? v.map(inline).join(', ') : '-';
  if (typeof v !== 'object' || v === null) return scalar(v);
  const entries = Object.entries(v as Obj).filter(([, x]) => x !== null && x !== undefined);
  return entries.map(([k, x]) => (typeof x === 'object' && x !== null && !Array.isArray(x) ? `${k}={${inline(x)}}` : `${k}=${inline(x)}`)).join(' ');
}

const W = 12;

export function sectionsOf(st: Obj, now: number, cols: number): string[] {
  return [
    ...outputs(st, cols),
    ...services(st, cols),
    ...network(obj(st.network), now, cols),
    ...cloud(obj(st.cloud), now, cols),
    ...alarm(st, now, cols),
    ...ptz(obj(st.ptz), cols),
    ...storage(st, now, cols),
    ...capture(obj(st.capture)),
    ...detection(obj(st.detection), now, cols),
    ...health(obj(st.health), now, cols),
    ...faults(obj(st.faults), now, cols),
  ];
}

function outputValue(k: string, v: unknown): string {
  const o = obj(v);
  if (k === 'resetButton') return o.pressed ? yellow('pressed') : 'released';
  if (typeof v === 'object' && v !== null && 'on' in o) return `${onOff(o.on)}${num(o.brightnessPct) !== undefined ? ` (brightness ${percent(o.brightnessPct)})` : ''}`;
  if (typeof v === 'boolean') return v ? yellow('on') : 'off';
  return inline(v);
}

function outputs(st: Obj, cols: number): string[] {
  const rows: [string, string][] = Object.entries(obj(st.outputs)).map(([k, v]) => [k, outputValue(k, v)]);
  for (const [k, v] of Object.entries(obj(st.hardwareFailures))) rows.push([k, red(`FAILED: ${scalar(v)}`)]);
  return ['outputs', ...kv(rows, 2, W, cols)];
}

function services(st: Obj, cols: number): string[] {
  const entries = Object.entries(obj(st.services)).map(([k, v]) => [k, obj(v)] as const);
  const cell = 25;
  const perLine = Math.max(1, Math.floor((cols - 2) / cell));
  const out = ['services'];
  for (let i = 0; i < entries.length; i += perLine) {
    const cells = entries.slice(i, i + perLine).map(([k, s]) => {
      const mark = s.status === 'running' ? green('running') : s.status === 'failed' ? red('failed') : scalar(s.status);
      return `${k.padEnd(15)} ${mark}`;
    });
    out.push(`  ${cells.map((c, j) => (j === cells.length - 1 ? c : padVisible(c, cell))).join('')}`);
  }
  const failed = entries.filter(([, s]) => s.error);
  out.push(...kv(failed.map(([k, s]) => [k, red(scalar(s.error))]), 2, W, cols));
  const children = Object.entries(obj(st.children)).map(([k, v]) => [k, obj(v)] as const);
  if (children.length) {
    out.push('children');
    out.push(...kv(children.map(([k, c]) => [k, `${scalar(c.status)}, pid ${scalar(c.pid)}, ${scalar(c.restarts)} restarts${c.lastError ? `, last error: ${scalar(c.lastError)}` : ''}`]), 2, 14, cols));
  }
  return out;
}

function network(n: Obj, now: number, cols: number): string[] {
  const phase = n.phase === 'online' ? green(scalar(n.phase)) : n.phase === 'exception' || n.phase === 'offline' ? red(scalar(n.phase)) : yellow(scalar(n.phase));
  const rows: [string, string][] = [['state', `${phase}${n.reason ? ` — ${scalar(n.reason)}` : ''}`]];
  const wired = obj(n.wired);
  if (n.wired) rows.push(['wired', `${scalar(wired.iface)} ${wired.carrier ? 'cable in' : 'no cable'}${wired.address ? `, ${scalar(wired.address)}` : ''}${wired.hasRoute ? ', route' : ''}${n.active === 'wired' ? ' (in use)' : ''}`]);
  const wifi = obj(n.wifi);
  if (n.wifi) rows.push(['wifi', `${scalar(wifi.iface)} ${wifi.connected ? `joined ${scalar(wifi.ssid)}${num(wifi.signal) !== undefined ? ` (${scalar(wifi.signal)} %)` : ''}` : 'not joined'}${wifi.saved ? '' : ', no network saved'}${n.active === 'wifi' ? ' (in use)' : ''}`]);
  const check = obj(n.check);
  if (n.check) rows.push(['check', `${scalar(check.target)} via ${scalar(check.via)}: ${check.ok ? green('ok') : red(`failed${check.error ? ` (${scalar(check.error)})` : ''}`)}, ${relative(Number(check.at), now)}`]);
  return ['network', ...kv(rows, 2, W, cols)];
}

function cloud(c: Obj, now: number, cols: number): string[] {
  if (!Object.keys(c).length) return [];
  const link = c.connected ? green(scalar(c.link)) : red(scalar(c.link));
  const rows: [string, string][] = [['link', `${link}${num(c.since) !== undefined ? ` since ${relative(Number(c.since), now)}` : ''}`]];
  rows.push(['broker', `${scalar(c.broker)}${c.baseTopic ? ` (${scalar(c.baseTopic)})` : ''}`]);
  if (!c.connected && c.lastError) rows.push(['error', scalar(c.lastError)]);
  if (!c.connected && num(c.nextRetryAt) !== undefined) rows.push(['retry', `attempt ${scalar(c.attempt)}, next ${relative(Number(c.nextRetryAt), now)}`]);
  const o = obj(c.outbox);
  if (c.outbox) rows.push(['outbox', `${scalar(o.depth)} waiting (${bytes(Number(o.bytes))} of ${bytes(Number(o.maxBytes))}), ${scalar(o.inFlight)} in flight, ${scalar(o.dropped)} dropped`]);
  return ['cloud', ...kv(rows, 2, W, cols)];
}

function alarm(st: Obj, now: number, cols: number): string[] {
  const a = obj(st.alarm);
  const rows: [string, string][] = [];
  if (st.alarm) {
    const on = ['strobes', 'siren', 'spotlight'].filter((k) => a[k]);
    rows.push(['alarm', a.active ? red(`ACTIVE (${scalar(a.source)})${num(a.until) !== undefined ? ` until ${relative(Number(a.until), now)}` : ''}${on.length ? `: ${on.join(', ')}` : ''}`) : 'idle']);
    if (a.maintenance) rows.push(['', yellow('maintenance mode: deterrents held off')]);
    if (Array.isArray(a.missing) && a.missing.length) rows.push(['missing', red(a.missing.map(scalar).join(', '))]);
  }
  const d = obj(st.daynight);
  if (st.daynight) rows.push(['day/night', `${scalar(d.current)} (${scalar(d.mode)}), ${scalar(d.lux)} lux, since ${relative(Number(d.since), now)} (${scalar(d.reason)})${d.blinded ? yellow(', blinded') : ''}${d.paused ? ', paused' : ''}`]);
  const r = obj(st.recording);
  if (st.recording) {
    const lenses = Object.entries(obj(r.lenses)).map(([k, v]) => {
      const l = obj(v);
      return `${k} ${l.active ? `${yellow('recording')} (${inline(l.reasons)})` : 'idle'}, ${scalar(l.kept)} kept`;
    });
    rows.push(['recording', `${scalar(r.mode)}; ${lenses.join('; ')}`]);
  }
  const live = obj(st.live);
  if (st.live) rows.push(['live', `${Array.isArray(live.sessions) ? live.sessions.length : 0} push(es)${live.talk ? ', talk on' : ''}`]);
  const rtsp = obj(st.rtsp);
  if (st.rtsp) rows.push(['rtsp', `${scalar(rtsp.status)}${rtsp.status === 'disabled' ? '' : `, port ${scalar(rtsp.port)}, ${scalar(rtsp.clients)} client(s)`}`]);
  const p = obj(st.privacy);
  if (st.privacy) rows.push(['privacy', `audio recording ${onOff(p.audioRecording)}, since ${relative(Number(p.since), now)}`]);
  const s = obj(st.secrets);
  if (st.secrets) rows.push(['secrets', Object.entries(s).map(([k, v]) => `${k} ${yesNo(v)}`).join(', ')]);
  return rows.length ? ['alarm and media', ...kv(rows, 2, W, cols)] : [];
}

function ptz(p: Obj, cols: number): string[] {
  if (!Object.keys(p).length) return [];
  const deg = (v: unknown): string => (num(v) !== undefined ? `${scalar(v)}°` : '-');
  const rows: [string, string][] = [];
  rows.push(['head', p.available ? `${scalar(p.mode)}${p.moving ? ', moving' : ''}, pan ${deg(p.pan)} tilt ${deg(p.tilt)}${p.homed ? '' : yellow(', not homed')}` : red('unavailable')]);
  rows.push(['wide lens', p.wideAvailable ? `pan ${deg(p.widePan)}` : red('unavailable')]);
  const patrol = obj(p.patrol);
  const presets = Array.isArray(p.presets) ? p.presets.length : 0;
  rows.push(['presets', `${presets}, patrol ${onOff(patrol.enabled)}${patrol.followTarget ? ', follows targets' : ''}${p.target ? `, target ${inline(p.target)}` : ''}`]);
  return ['ptz', ...kv(rows, 2, W, cols)];
}

function storage(st: Obj, now: number, cols: number): string[] {
  const s = obj(st.storage);
  if (!Object.keys(s).length) return [];
  const good = s.status === 'in-use';
  const rows: [string, string][] = [['card', `${good ? green(scalar(s.status)) : yellow(scalar(s.status))}${s.reason && s.reason !== 'ok' ? ` — ${scalar(s.reason)}` : ''}${s.readOnly ? red(' (read-only)') : ''}`]];
  if (num(s.totalBytes) !== undefined) {
    rows.push(['space', `${bytes(Number(s.freeBytes))} free of ${bytes(Number(s.totalBytes))} (${percent(s.freePercent)} free, keeps ${percent(s.minFreePercent)})`]);
  }
  if (s.cardId) rows.push(['id', scalar(s.cardId)]);
  rows.push(['checked', relative(Number(s.checkedAt), now)]);
  return ['storage', ...kv(rows, 2, W, cols)];
}

function capture(c: Obj): string[] {
  const lenses = Object.entries(c).map(([k, v]) => [k, obj(v)] as const);
  if (!lenses.length) return [];
  const rows = lenses.map(([k, l]) => {
    const tap = obj(l.tap);
    const st = l.status === 'running' ? green(scalar(l.status)) : red(scalar(l.status));
    return [k, st, `${scalar(tap.fps)}`, `${scalar(tap.frames)}`, `${scalar(tap.dropped)}`, scalar(l.restarts), scalar(l.segments), l.recording ? yellow('yes') : 'no'];
  });
  return ['capture', ...table(['lens', 'status', 'fps', 'frames', 'dropped', 'restarts', 'segments', 'rec'], rows)];
}

function detection(d: Obj, now: number, cols: number): string[] {
  if (!Object.keys(d).length) return [];
  const m = obj(d.model);
  const out = ['detection', ...kv([['model', `${m.status === 'ready' ? green(scalar(m.status)) : yellow(scalar(m.status))}, ${scalar(m.restarts)} restarts${d.sleeping ? yellow(', sleeping') : ''}`]], 2, W, cols)];
  const rows = Object.entries(obj(d.lenses)).map(([k, v]) => {
    const l = obj(v);
    const lat = obj(l.latencyMs);
    const open = Array.isArray(l.open) && l.open.length ? yellow(l.open.map(scalar).join(',')) : '-';
    return [k, inline(l.enabled), scalar(l.inferences), scalar(l.events), open, num(lat.p50) !== undefined ? `${scalar(lat.p50)}/${scalar(lat.p99)} ms` : '-', l.lastEventAt ? relative(Number(l.lastEventAt), now) : '-'];
  });
  if (rows.length) out.push(...table(['lens', 'detects', 'runs', 'events', 'open', 'p50/p99', 'last event'], rows));
  return out;
}

function health(h: Obj, now: number, cols: number): string[] {
  if (!Object.keys(h).length) return [];
  const cpu = obj(h.cpu);
  const mem = obj(h.memory);
  const rows: [string, string][] = [];
  rows.push(['cpu', `${percent(cpu.loadPercent)} (load ${scalar(cpu.loadAverage1m)}, ${scalar(cpu.cores)} cores)`]);
  const used = num(mem.totalBytes) !== undefined && num(mem.availableBytes) !== undefined ? Number(mem.totalBytes) - Number(mem.availableBytes) : undefined;
  rows.push(['memory', `${used !== undefined ? `${Math.round(used / 1e6)} MB` : '-'} of ${num(mem.totalBytes) !== undefined ? `${Math.round(Number(mem.totalBytes) / 1e6)} MB` : '-'} (${percent(mem.usedPercent)})`]);
  rows.push(['temperature', num(h.temperatureC) !== undefined ? `${scalar(h.temperatureC)} °C` : '- (no sensor)']);
  for (const [k, v] of Object.entries(obj(h.disks))) {
    const disk = obj(v);
    rows.push([`disk ${k}`, v ? `${percent(disk.usePercent)} used of ${bytes(Number(disk.sizeBytes))}, ${bytes(Number(disk.availableBytes))} free` : '-']);
  }
  for (const [k, v] of Object.entries(obj(h.errors))) rows.push([`error ${k}`, red(scalar(v))]);
  if (num(h.at) !== undefined) rows.push(['measured', relative(Number(h.at), now)]);
  return ['health', ...kv(rows, 2, W, cols)];
}

function faults(f: Obj, now: number, cols: number): string[] {
  const entries = Object.entries(f).map(([k, v]) => [k, obj(v)] as const);
  if (!entries.length) return [`${'faults'.padEnd(14)}${green('none')}`];
  return ['faults', ...kv(entries.map(([k, x]) => [red(k), `(${scalar(x.kind)}) ${scalar(x.message)} — since ${relative(Number(x.since), now)}`]), 2, 0, cols)];
}

