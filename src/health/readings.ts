import { promises as fs } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';

/**
 * One health sample, read straight from the kernel (/proc, /sys, statfs). Each reading is taken
 * on its own and may fail on its own (no thermal zone, a card directory that vanished): a failed
 * reading is null with its error beside it, the others stand.
 *
 * Why not systeminformation (which this used before): one of its samples ran ~8 shells and ~12
 * programs (`df`, `sensors`, `vcgencmd`, `date`, `ls`, `cat`, `grep`…) every 30 s — most of an
 * idle daemon's CPU on the board, and on a machine running a fleet of daemons. The same figures
 * are a few file reads.
 */
export interface DiskReading {
  path: string;
  /** The mount the path lives on: for the card, a mount other than `path` means no card is mounted there. */
  mount: string;
  isMountPoint: boolean;
  fs: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  usePercent: number;
}

export interface HealthState {
  at: number;
  cpu: { loadPercent: number; loadAverage1m: number; cores: number } | null;
  /** Main CPU temperature in °C; null also when the board has no sensor (then no error either). */
  temperatureC: number | null;
  memory: { totalBytes: number; availableBytes: number; usedPercent: number } | null;
  disks: { data: DiskReading | null; card: DiskReading | null };
  uptimeSeconds: number | null;
  /** Reading name → why it failed this time. */
  errors: Record<string, string>;
}

export interface HealthPaths {
  dataDir: string;
  cardMount: string;
}

/** A mount table entry; the sizes when the caller already has them (else statfs is asked). */
export interface MountEntry {
  fs: string;
  mount: string;
  size?: number;
  used?: number;
  available?: number;
  use?: number;
}

export async function readHealth(paths: HealthPaths, now: number): Promise<HealthState> {
  const errors: Record<string, string> = {};
  const take = async <T>(name: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      errors[name] = err instanceof Error ? err.message : String(err);
      return null;
    }
  };
  // One mount table serves both paths.
  const mounts = take('mounts', readMounts);
  const [cpu, temperatureC, memory, data, card, uptimeSeconds] = await Promise.all([
    take('cpu', readCpu),
    take('temperature', readTemperature),
    take('memory', readMemory),
    take('disk.data', async () => diskFor(paths.dataDir, await mounts)),
    take('disk.card', async () => diskFor(paths.cardMount, await mounts)),
    take('uptime', async () => Math.round(Number((await fs.readFile('/proc/uptime', 'utf8')).split(' ')[0]))),
  ]);
  return { at: now, cpu, temperatureC, memory, disks: { data, card }, uptimeSeconds, errors };
}

/** Busy and total jiffies of all CPUs since boot (/proc/stat, first line). */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const line = (await fs.readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) throw new Error('no CPU load figures');
  // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
  const idle = f[3]! + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Load between this sample and the previous one (the first: the average since boot). */
let lastCpu: { busy: number; total: number } | undefined;

async function readCpu(): Promise<HealthState['cpu']> {
  const now = await cpuTimes();
  const prev = lastCpu ?? { busy: 0, total: 0 };
  lastCpu = now;
  const dt = now.total - prev.total;
  const load = dt > 0 ? ((now.busy - prev.busy) / dt) * 100 : 0;
  return { loadPercent: round1(Math.min(100, Math.max(0, load))), loadAverage1m: round1(loadavg()[0]!), cores: availableParallelism() };
}

/**
 * The CPU's thermal zone (type naming the CPU or SoC, else the first zone), °C. No thermal zone
 * at all is a board without a sensor: null, not an error.
 */
async function readTemperature(): Promise<number | null> {
  const base = '/sys/class/thermal';
  const zones = (await fs.readdir(base).catch(() => [] as string[])).filter((z) => z.startsWith('thermal_zone')).sort();
  if (zones.length === 0) return null;
  const types = await Promise.all(zones.map((z) => fs.readFile(`${base}/${z}/type`, 'utf8').then((t) => t.trim(), () => '')));
  const pick = zones[Math.max(0, types.findIndex((t) => /cpu|soc|x86_pkg/i.test(t)))]!;
  const milli = Number((await fs.readFile(`${base}/${pick}/temp`, 'utf8')).trim());
  if (!Number.isFinite(milli)) throw new Error(`${pick}: no temperature figure`);
  return round1(milli / 1000);
}

async function readMemory(): Promise<HealthState['memory']> {
  const text = await fs.readFile('/proc/meminfo', 'utf8');
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${name}`);
    return Number(m[1]) * 1024;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  return { totalBytes: total, availableBytes: available, usedPercent: round1(((total - available) / total) * 100) };
}

/** /proc/self/mounts: device and mount point of every mount (octal escapes such as \040 decoded). */
async function readMounts(): Promise<MountEntry[]> {
  const text = await fs.readFile('/proc/self/mounts', 'utf8');
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [dev, mount] = line.split(' ');
      return { fs: unescape(dev ?? ''), mount: unescape(mount ?? '') };
    });
}

/** The mount holding `path`: the longest mount point that is a prefix of its real path; sizes as `df` computes them. */
export async function diskFor(path: string, mounts: MountEntry[] | null): Promise<DiskReading> {
  if (!mounts) throw new Error('mount table unavailable');
  const real = await fs.realpath(resolve(path));
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = real === m.mount || real.startsWith(m.mount.endsWith('/') ? m.mount : `${m.mount}/`);
    // `>=`: of two mounts on the same point, the later one (in mount order) is the one in use.
    if (inside && (!best || m.mount.length >= best.mount.length)) best = m;
  }
  if (!best) throw new Error(`no mounted filesystem holds ${real}`);
  let { size, used, available, use } = best;
  if (size === undefined || used === undefined || available === undefined || use === undefined) {
    const s = await fs.statfs(best.mount);
    size = s.blocks * s.bsize;
    used = (s.blocks - s.bfree) * s.bsize;
    available = s.bavail * s.bsize;
    // df's Use%: of what non-root users can have (used + available), not of the raw size.
    use = used + available > 0 ? (used / (used + available)) * 100 : 0;
  }
  return {
    path,
    mount: best.mount,
    isMountPoint: best.mount === real,
    fs: best.fs,
    sizeBytes: size,
    usedBytes: used,
    availableBytes: available,
    usePercent: round1(use),
  };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
