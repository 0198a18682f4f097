import { promises as fs } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { onceFailure, type OnceRunner } from '../supervisor/runner.js';
import type { LinkBackend, LinkReading } from './types.js';

/**
 * The real link backend: carrier and operstate from /sys/class/net/<iface>, the IPv4 default
 * route from /proc/net/route (both per network namespace, so the test namespace sees its own),
 * addresses from the kernel via os.networkInterfaces(). Route metrics are changed with
 * `ip route`, a short one-shot command run by the process runner's run-once mode.
 */
export type RunCommand = (cmd: string, args: readonly string[]) => Promise<void>;

/** How long one `ip` call may take. */
export const IP_TIMEOUT_MS = 10_000;

/** A RunCommand on the run-once runner; a failure reads `<cmd> <args>: <its stderr, or why>`. */
export function onceCommand(runner: OnceRunner): RunCommand {
  return async (cmd, args) => {
    const res = await runner.start({ name: cmd, command: cmd, args, timeoutMs: IP_TIMEOUT_MS }).done;
    const why = onceFailure(res, IP_TIMEOUT_MS);
    if (why === undefined) return;
    const said = res.error || res.timedOut ? '' : res.stderr.join('\n').trim();
    throw new Error(`${cmd} ${args.join(' ')}: ${said || why}`);
  };
}

export class LinuxLinkBackend implements LinkBackend {
  constructor(
    private readonly opts: { sysClassNet?: string; procNetRoute?: string; run: RunCommand },
  ) {}

  async read(iface: string): Promise<LinkReading> {
    const dir = join(this.opts.sysClassNet ?? '/sys/class/net', iface);
    const operstate = await readTrim(join(dir, 'operstate'));
    if (operstate === null) return { iface, present: false, carrier: false, operstate: 'absent', address: null, defaultRoute: null };
    // Reading `carrier` of an interface that is administratively down fails with EINVAL: no carrier.
    const carrier = (await readTrim(join(dir, 'carrier'))) === '1';
    const routes = parseDefaultRoutes((await readTrim(this.opts.procNetRoute ?? '/proc/net/route')) ?? '');
    const addr = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4' && !a.internal)?.address ?? null;
    return { iface, present: true, carrier, operstate, address: addr, defaultRoute: routes.get(iface) ?? null };
  }

  async setDefaultMetric(iface: string, metric: number): Promise<void> {
    const routes = parseDefaultRoutes((await readTrim(this.opts.procNetRoute ?? '/proc/net/route')) ?? '');
    const cur = routes.get(iface);
    if (!cur || cur.metric === metric) return;
    const { run } = this.opts;
    // The metric is part of a route's key: add the new one first so there is never a gap, then
    // remove the old one.
    await run('ip', ['-4', 'route', 'replace', 'default', 'via', cur.gateway, 'dev', iface, 'metric', String(metric)]);
    await run('ip', ['-4', 'route', 'del', 'default', 'via', cur.gateway, 'dev', iface, 'metric', String(cur.metric)]);
  }
}

/** The lowest-metric usable IPv4 default route per interface, from /proc/net/route text. */
export function parseDefaultRoutes(text: string): Map<string, { gateway: string; metric: number }> {
  const out = new Map<string, { gateway: string; metric: number }>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flags, , , metric, mask] = f;
    const RTF_UP = 0x1;
    const RTF_GATEWAY = 0x2;
    const fl = Number.parseInt(flags!, 16);
    if (dest !== '00000000' || mask !== '00000000' || (fl & RTF_UP) === 0 || (fl & RTF_GATEWAY) === 0) continue;
    const m = Number.parseInt(metric!, 10);
    const prev = out.get(iface!);
    if (!prev || m < prev.metric) out.set(iface!, { gateway: hexToIpv4(gw!), metric: m });
  }
  return out;
}

/** /proc/net/route stores addresses as little-endian hex: 0102000A → 10.0.2.1. */
export function hexToIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

async function readTrim(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    return null;
  }
}
