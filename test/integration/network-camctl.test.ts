import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { REPO } from '../harness/boot.js';
import { startDaemon, waitFor, type DaemonProc } from '../harness/daemon.js';
import type { NetworkSummary } from '../../src/state/store.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/** The real daemon process, driven by the real camctl: pulling the sim cable by command. */
const run = promisify(execFile);
let d: DaemonProc | undefined;
afterAll(async () => {
  if (d) {
    d.proc.kill('SIGTERM');
    await d.exited;
    rmSync(d.dir, { recursive: true, force: true });
  }
});

async function camctl(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/camctl.ts'), '--socket', d!.socket, ...args], { cwd: REPO });
  return stdout;
}

async function network(): Promise<NetworkSummary> {
  const r = await d!.call('status');
  if (!r.ok) throw new Error(`status failed: ${r.error.message}`);
  return (r.result as { network: NetworkSummary }).network;
}

describe('camctl call sim.link', () => {
  it('unplugs and re-plugs the sim cable; the daemon goes to provisioning and back to wired', async () => {
    d = await startDaemon();
    await waitFor(async () => (await network()).active === 'wired', 10_000);

    const out = await camctl('call', 'sim.link', '{"iface":"eth0","carrier":false}');
    expect(JSON.parse(out)).toMatchObject({ links: { eth0: { carrier: false } } });
    await waitFor(async () => (await network()).phase === 'provisioning', 10_000);
    expect(await network()).toMatchObject({ active: null, reason: 'no network and no saved Wi-Fi', wired: { carrier: false } });

    await camctl('call', 'sim.link', '{"iface":"eth0","carrier":true}');
    await waitFor(async () => (await network()).active === 'wired', 10_000);

    // A bad interface name: a precise error, exit code 1, and the daemon carries on.
    const bad = await camctl('call', 'sim.link', '{"iface":"eth9","carrier":true}').then(
      () => null,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toMatch(/^camctl: invalid_args: iface: /);
    expect((await network()).active).toBe('wired');
  });
});
