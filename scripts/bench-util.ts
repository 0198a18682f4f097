import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Small measuring helpers shared by the benchmarks (process CPU and memory from /proc, quantiles). */

let clkTck: number | undefined;
/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicks(): number {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return clkTck;
}

/** utime + stime of a process in clock ticks; undefined once it is gone. */
export function procTicks(pid: number): number | undefined {
  try {
    // Fields after the command name (which may contain blanks): utime and stime are 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in MiB; undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return kb / 1024;
  } catch {
    return undefined;
  }
}

/** Nearest-rank quantile, q in 0..1; NaN for no samples. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);
export const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

