import { promises as fs } from 'node:fs';
import { resolve, sep } from 'node:path';

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

/** `/proc/mounts` escapes blanks and backslashes in octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    out.push({ device: unescape(f[0]!), mountPoint: unescape(f[1]!), fsType: f[2]!, options: f[3]!.split(',') });
  }
  return out;
}

/**
 * The mount that holds `path`: the longest mount point that is `path` or a parent of it. When a
 * point is mounted over several times the last line wins (that is the one visible).
 */
export function mountFor(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  const p = resolve(path);
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const covers = p === mp || mp === '/' || p.startsWith(mp.endsWith(sep) ? mp : mp + sep);
    if (covers && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export async function readMounts(file = '/proc/mounts'): Promise<MountEntry[]> {
  return parseMounts(await fs.readFile(file, 'utf8'));
}
