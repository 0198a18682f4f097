import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type DaemonProc } from '../harness/daemon.js';
import { until } from '../integration/cloud-helpers.js';
import { mulberry32 } from '../../src/core/prng.js';

/**
 * Shared pieces of the fault suite: figures, /proc readings, data dirs, seeded randomness.
 * Everything here reads the real system; nothing is simulated but GPIO/I2C (the sim board).
 */

/**
 * Prints one line of measured figures (`[figures] <name> {json}`) so a run's log carries them,
 * and appends it to `$CAMD_FIGURES_FILE` when set (scripts collect them from there).
 */
export function figures(name: string, data: Record<string, unknown>): void {
  const line = `[figures] ${name} ${JSON.stringify(data)}`;
  console.log(line);
  if (process.env.CAMD_FIGURES_FILE) appendFileSync(process.env.CAMD_FIGURES_FILE, `${line}\n`);
}

/** Resident set size of a process in KiB (VmRSS), or undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** R, S, D, Z (zombie), T… */
  state: string;
}

/** Every process on the machine, from /proc/<pid>/stat. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // comm is in parentheses and may itself contain spaces or parentheses: split at the last ')'.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const [state, ppid] = stat.slice(close + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(ppid), comm, state: state! });
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

export function childrenOf(pid: number): ProcInfo[] {
  return processes().filter((p) => p.ppid === pid);
}

/**
 * A fresh data dir for a real daemon: `config` as data/config.json (merged over the board's
 * defaults by the daemon) and, when given, `secrets` as the 0600 data/secrets.json.
 */
export function prepareDir(config: Record<string, unknown>, secrets?: Record<string, unknown>, prefix = 'camd-fault-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(config));
  if (secrets) writeFileSync(join(dir, 'data', 'secrets.json'), JSON.stringify(secrets), { mode: 0o600 });
  return dir;
}

export function brokerConfig(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...extra, cloud: { url, allowPlaintext: true, ...((extra.cloud) ?? {}) } };
}

type CloudStatus = { cloud?: { connected: boolean; outbox: { depth: number } } };

/** Starts the real daemon on `dir` and waits until its cloud link is up. */
export async function connectedDaemon(dir: string, opts: { env?: NodeJS.ProcessEnv; netns?: string } = {}): Promise<DaemonProc> {
  const d = await startDaemon({ dir, ...opts });
  await until(async () => {
    const r = await d.call('status');
    return r.ok && (r.result as CloudStatus).cloud?.connected;
  }, 'daemon connected to the broker', 20_000);
  return d;
}

export async function outboxDepth(d: DaemonProc): Promise<number | undefined> {
  const r = await d.call('status').catch(() => undefined);
  return r?.ok ? (r.result as CloudStatus).cloud?.outbox.depth : undefined;
}

/** Kills a daemon we started, if it still runs, and waits for it. */
export async function kill9(d: DaemonProc): Promise<void> {
  if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
  await d.exited;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kill schedule. */
export function seeded(seed: number): { next(): number; int(min: number, max: number): number } {
  const next = mulberry32(seed);
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/** Seed of the run: `CAMD_FAULT_SEED` or the fixed default, so a failure can be replayed. */
export function faultSeed(fallback: number): number {
  const s = Number(process.env.CAMD_FAULT_SEED);
  return Number.isInteger(s) && s > 0 ? s : fallback;
}
