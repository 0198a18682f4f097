import { formatInZone } from '../core/timezone.js';

/**
 * Plain-text building blocks for a plain SSH terminal (80 columns): colours, units, relative
 * times, aligned key/value sections, tables and trees. Colour codes only when stdout is a TTY and
 * NO_COLOR is not set (https://no-color.org: present and not empty); a pipe or a file gets text.
 */
let colourOverride: boolean | undefined;

/** Tests (and `--json`, which never colours) set this; `undefined` goes back to asking the terminal. */
export function setColour(on: boolean | undefined): void {
  colourOverride = on;
}

export function colourEnabled(): boolean {
  if (colourOverride !== undefined) return colourOverride;
  const noColour = process.env.NO_COLOR;
  return process.stdout.isTTY === true && (noColour === undefined || noColour === '');
}

// Decided per call, not at load: a test or `--json` can switch it after the import.
const paint = (code: number) => (s: string) => (colourEnabled() ? `\u001b[${code}m${s}\u001b[0m` : s);
export const red = paint(31);
export const green = paint(32);
export const yellow = paint(33);
export const blue = paint(34);
export const bold = paint(1);
export const dim = paint(2);

/** What a line takes on screen: colour codes take none. */
export function visibleLength(s: string): number {
   
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

export const padVisible = (s: string, width: number): string => s + ' '.repeat(Math.max(0, width - visibleLength(s)));

/** A duration for people: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A moment relative to now: `3 s ago`, `in 2 min`, `now`. */
export function relative(t: number, now: number): string {
  const d = t - now;
  if (Math.abs(d) < 1000) return 'now';
  // Round to the unit shown: "in 2 min", not "in 1 min 59 s" for a retry two minutes away.
  const s = Math.round(Math.abs(d) / 1000);
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86_400 ? `${Math.round(s / 360) / 10} h` : `${Math.round(s / 8640) / 10} d`;
  return d < 0 ? `${text} ago` : `in ${text}`;
}

/** Bytes in decimal units, as disks are sold: `270.6 GB`, `36.5 kB`. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export const percent = (n: unknown): string => (typeof n === 'number' && Number.isFinite(n) ? `${Math.round(n * 10) / 10} %` : '-');

/**
 * Lines of `key  value`, keys in a column `width` wide, indented by `indent`; a value too long for
 * 80 columns wraps under itself (at spaces) rather than running off the right edge.
 */
export function kv(rows: [string, string][], indent = 2, width = 0, cols = 80): string[] {
  const w = Math.max(width, ...rows.map(([k]) => visibleLength(k) + 2));
  const out: string[] = [];
  for (const [k, v] of rows) {
    const lead = ' '.repeat(indent) + padVisible(k, w);
    const room = indent + w;
    out.push(...wrap(v, cols - room).map((part, i) => (i === 0 ? lead : ' '.repeat(room)) + part));
  }
  return out;
}

/** Splits text at spaces into pieces at most `width` visible characters (a longer word stays whole). */
export function wrap(text: string, width: number): string[] {
  if (visibleLength(text) <= width || width < 10) return [text];
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && visibleLength(line) + 1 + visibleLength(word) > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.flatMap((l) => (visibleLength(l) > width ? chop(l, width) : [l]));
}

// A word longer than the line (a URL, a path) is cut into pieces rather than overflow.
function chop(s: string, width: number): string[] {
  if (s.length !== visibleLength(s)) return [s];
  const out: string[] = [];
  for (let i = 0; i < s.length; i += width) out.push(s.slice(i, i + width));
  return out;
}

/** An aligned table: a header row, then rows; columns as wide as their widest cell. */
export function table(header: string[], rows: string[][], indent = 2): string[] {
  const widths = header.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]): string =>
    (' '.repeat(indent) + cells.map((c, i) => (i === cells.length - 1 ? c : padVisible(c, widths[i]!))).join('  ')).trimEnd();
  return [line(header.map((h) => dim(h))), ...rows.map(line)];
}

type Obj = Record<string, unknown>;

/** A JSON value as an indented tree (`config get` of an object): `key: value`, nested by two spaces. */
export function tree(value: unknown, indent = 0): string[] {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}[]`];
    return value.flatMap((v) => {
      if (isPlainObject(v) || Array.isArray(v)) {
        const [first, ...rest] = tree(v, indent + 2);
        return [`${pad}- ${(first ?? '').trimStart()}`, ...rest];
      }
      return [`${pad}- ${scalar(v)}`];
    });
  }
  if (!isPlainObject(value)) return [`${pad}${scalar(value)}`];
  const entries = Object.entries(value);
  if (entries.length === 0) return [`${pad}{}`];
  return entries.flatMap(([k, v]) => {
    if ((isPlainObject(v) && Object.keys(v).length) || (Array.isArray(v) && v.length)) return [`${pad}${k}:`, ...tree(v, indent + 2)];
    return [`${pad}${k}: ${Array.isArray(v) ? '[]' : isPlainObject(v) ? '{}' : scalar(v)}`];
  });
}

const isPlainObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A scalar as people read it; strings stay bare unless empty (`""` says "set to nothing"). */
export function scalar(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v === '' ? '""' : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * The zone times are shown in: `device.timezone` (camctl reads it from the daemon once per run).
 * Only display: whatever camctl prints as JSON keeps the daemon's UTC epoch milliseconds.
 */
let zone = 'UTC';
export function setDisplayZone(z: string): void {
  zone = z;
}
export const clockOf = (ms: number): string => formatInZone(ms, zone, { ms: true, date: false });
export const dateTimeOf = (ms: number): string => formatInZone(ms, zone);

export function formatLogLine(l: Obj): string {
  const lvl: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
  const { time, level, component, msg, pid: _pid, ...rest } = l;
  const t = clockOf(Number(time));
  const lv = lvl[Number(level)] ?? scalar(level);
  const colored = Number(level) >= 50 ? red(lv) : Number(level) >= 40 ? yellow(lv) : lv;
  const extra = Object.keys(rest).length ? ` ${dim(JSON.stringify(rest))}` : '';
  return `${t} ${colored} [${scalar(component)}] ${typeof msg === 'string' ? msg : ''}${extra}`;
}

export function formatTimelineEntry(e: Obj): string {
  const t = clockOf(Number(e.t));
  const hex = (xs: unknown): string => (Array.isArray(xs) ? xs.map((b) => Number(b).toString(16).padStart(2, '0')).join(' ') : '');
  if (e.kind === 'gpio') return `${t} gpio   ${scalar(e.name).padEnd(16)} line ${scalar(e.line).padStart(3)} = ${scalar(e.value)}${e.physical !== undefined && e.physical !== e.value ? ` (physical ${scalar(e.physical)})` : ''}`;
  if (e.kind === 'i2c') return `${t} i2c    ${scalar(e.bus).padEnd(16)} 0x${Number(e.address).toString(16)} ${scalar(e.dir)} ${e.register === null ? '' : `reg 0x${Number(e.register).toString(16)} `}[${hex(e.bytes)}]`;
  return `${t} serial ${scalar(e.port).padEnd(16)} ${scalar(e.dir)} [${hex(e.bytes)}]`;
}
