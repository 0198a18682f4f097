import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import si from 'systeminformation';

/**
 * One health sample from systeminformation. Each reading is taken on its own and may fail on
 * its own (no thermal zone, a card directory that vanished, `df` missing): a failed reading is
 * null with its error beside it, the others stand.
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
  // One `df` serves both paths.
  const mounts = take('mounts', () => si.fsSize());
  const [cpu, temperatureC, memory, data, card, uptimeSeconds] = await Promise.all([
    take('cpu', async () => {
      const l = await si.currentLoad();
      if (!Number.isFinite(l.currentLoad)) throw new Error('no CPU load figures');
      return { loadPercent: round1(l.currentLoad), loadAverage1m: round1(l.avgLoad), cores: l.cpus.length };
    }),
    take('temperature', async () => {
      const t = await si.cpuTemperature();
      return typeof t.main === 'number' && Number.isFinite(t.main) ? t.main : null;
    }),
    take('memory', async () => {
      const m = await si.mem();
      return { totalBytes: m.total, availableBytes: m.available, usedPercent: round1(((m.total - m.available) / m.total) * 100) };
    }),
    take('disk.data', async () => diskFor(paths.dataDir, await mounts)),
    take('disk.card', async () => diskFor(paths.cardMount, await mounts)),
    take('uptime', async () => Math.round(Number(si.time().uptime))),
  ]);
  return { at: now, cpu, temperatureC, memory, disks: { data, card }, uptimeSeconds, errors };
}

/** The mount holding `path`: the longest mount point that is a prefix of its real path. */
export function diskFor(
  path: string,
  mounts: { fs: string; mount: string; size: number; used: number; available: number; use: number }[] | null,
): Promise<DiskReading> {
  return (async () => {
    if (!mounts) throw new Error('mount table unavailable');
    const real = await fs.realpath(resolve(path));
    let best: (typeof mounts)[number] | undefined;
    for (const m of mounts) {
      const inside = real === m.mount || real.startsWith(m.mount.endsWith('/') ? m.mount : `${m.mount}/`);
      if (inside && (!best || m.mount.length > best.mount.length)) best = m;
    }
    if (!best) throw new Error(`no mounted filesystem holds ${real}`);
    return {
      path,
      mount: best.mount,
      isMountPoint: best.mount === real,
      fs: best.fs,
      sizeBytes: best.size,
      usedBytes: best.used,
      availableBytes: best.available,
      usePercent: round1(best.use),
    };
  })();
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
