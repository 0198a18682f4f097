import { execFileSync } from 'node:child_process';

/**
 * Two network namespaces joined by a veth pair, for tests that need a real link to cut: the
 * camera's side (`cam`, its end renamed `eth0`) and the broker's (`brk`), each on a /30.
 * Needs root or CAP_NET_ADMIN + CAP_SYS_ADMIN; `netnsProblem()` says why not when it cannot.
 */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** null when this process may create network namespaces; otherwise `ip`'s own words. */
export function netnsProblem(tag: string): string | null {
  const probe = `camd-${process.pid}-${tag}-probe`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return null;
  } catch (err) {
    return ((err as { stderr?: string }).stderr ?? String(err)).trim();
  }
}

export interface VethPair {
  cam: string;
  brk: string;
  camIp: string;
  brokerIp: string;
  /** Interface names at creation (the camera's end is renamed eth0); unique per test run. */
  camIf: string;
  brkIf: string;
}

/** Creates both namespaces and the link between them, every end up (no routes). */
export function createVethPair(p: VethPair): void {
  ip('netns', 'add', p.cam);
  ip('netns', 'add', p.brk);
  ip('link', 'add', p.camIf, 'netns', p.cam, 'type', 'veth', 'peer', 'name', p.brkIf, 'netns', p.brk);
  ip('-n', p.cam, 'link', 'set', p.camIf, 'name', 'eth0');
  ip('-n', p.cam, 'addr', 'add', `${p.camIp}/30`, 'dev', 'eth0');
  ip('-n', p.cam, 'link', 'set', 'lo', 'up');
  ip('-n', p.cam, 'link', 'set', 'eth0', 'up');
  ip('-n', p.brk, 'addr', 'add', `${p.brokerIp}/30`, 'dev', p.brkIf);
  ip('-n', p.brk, 'link', 'set', 'lo', 'up');
  ip('-n', p.brk, 'link', 'set', p.brkIf, 'up');
}

/** Deletes both namespaces (the veth pair goes with them); ones never created are skipped. */
export function deleteVethPair(p: Pick<VethPair, 'cam' | 'brk'>): void {
  for (const ns of [p.cam, p.brk]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // Not created (an earlier step failed).
    }
  }
}
