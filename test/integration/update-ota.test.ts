import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ControlClient, type Reply } from '../../src/cli/client.js';
import { NO_BROKER, REPO, SIM_BOARD_FILE } from '../harness/boot.js';
import { makeRelease, testKeys, truncate, corrupt, type MadeRelease, type ReleaseKind, type TestKeys } from '../harness/releases.js';
import { BOOT_GUARD, runService, type ServiceRunner } from '../harness/service-runner.js';
import { UpdateServer } from '../harness/update-server.js';
import { PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';

vi.setConfig(PROCESS_TIMEOUTS);

/**
 * Over-the-air updates end to end, on the sim board with real processes: a release tree in a temp
 * dir stands in for /opt/camd, the test's service runner for systemd (the boot guard before every
 * start, restart on failure, a start timeout), a real HTTPS server with a test CA (given to the
 * device in secrets update.caFile) serves signed releases whose bin/camd runs this repository's
 * daemon (or misbehaves on purpose). Nothing is mocked.
 */
const ARCH = process.arch;
let root: string;
let server: UpdateServer;
let keys: TestKeys;
let runner: ServiceRunner | undefined;
const releases = new Map<string, MadeRelease>();

function release(version: string, kind: ReleaseKind = 'daemon', over: Partial<Parameters<typeof makeRelease>[0]> = {}): MadeRelease {
  const key = `${version}:${JSON.stringify(kind)}:${JSON.stringify(over)}`;
  const have = releases.get(key);
  if (have) return have;
  const r = makeRelease({ dir: join(root, 'www'), version, arch: ARCH, kind, keys, ...over });
  releases.set(key, r);
  return r;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'camd-ota-'));
  mkdirSync(join(root, 'www'));
  mkdirSync(join(root, 'certs'));
  keys = testKeys({ dir: join(root, 'keys') });
  server = await UpdateServer.start(join(root, 'www'), join(root, 'certs'));
}, 120_000);
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});
afterEach(async () => {
  await runner?.stop();
  runner = undefined;
});

interface Device {
  base: string;
  socket: string;
  call(cmd: string, args?: Record<string, unknown>): Promise<Reply>;
  state(): Promise<Record<string, any> | undefined>;
}

/** A fresh device: release `first` installed as the board's setup would, config and secrets, the runner started. */
async function device(first: MadeRelease, config: Record<string, unknown> = {}, startTimeoutMs = 45_000): Promise<Device> {
  const dir = mkdtempSync(join(root, 'dev-'));
  const base = join(dir, 'opt');
  const rel = join(base, 'releases', first.version);
  mkdirSync(rel, { recursive: true });
  const t = spawnSync('tar', ['-xzf', first.tarball, '-C', rel, '--strip-components=1'], { encoding: 'utf8' });
  expect(t.status, t.stderr).toBe(0);
  writeFileSync(join(rel, '.tarball-sha256'), `${first.sha256}\n`);
  symlinkSync(join('releases', first.version), join(base, 'current'));
  mkdirSync(join(base, 'bin'));
  copyFileSync(BOOT_GUARD, join(base, 'bin', 'camd-boot-guard'));
  for (const d of ['data', 'run', 'card']) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ ...NO_BROKER, update: { trialSeconds: 5, maxBoots: 3 }, ...config }));
  writeFileSync(join(dir, 'data', 'secrets.json'), JSON.stringify({ update: { caFile: server.tls.ca } }), { mode: 0o600 });
  const socket = join(dir, 'run', 'camd.sock');
  const call = async (cmd: string, args: Record<string, unknown> = {}): Promise<Reply> => {
    const c = await ControlClient.connect(socket, 2000);
    try {
      return await c.request(cmd, args);
    } finally {
      c.close();
    }
  };
  const state = async (): Promise<Record<string, any> | undefined> => {
    const r = await call('status').catch(() => undefined);
    return r?.ok ? (r.result as Record<string, any>) : undefined;
  };
  runner = runService({
    base,
    args: ['--board', SIM_BOARD_FILE, '--data-dir', join(dir, 'data'), '--run-dir', join(dir, 'run'), '--card-dir', join(dir, 'card')],
    startTimeoutMs,
    readyCheck: async () => (await state())?.lifecycle === 'running',
    readyEveryMs: 250,
  });
  await running(state, first.version);
  return { base, socket, call, state };
}

/** Until the daemon answers, running `version`, and returns its state. */
async function running(state: Device['state'], version: string, extra: (s: Record<string, any>) => boolean = () => true): Promise<Record<string, any>> {
  return waitUntil(async () => {
    const s = await state();
    return s?.lifecycle === 'running' && s.release?.version === version && extra(s) ? s : undefined;
  }, `camd ${version} running`, 60_000, 250);
}

function runCamctl(bin: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: 'utf8', timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/** What an update must not touch when it is refused: the release tree and the downloads. */
function tree(base: string): string {
  const list = (d: string): string[] => (existsSync(d) ? readdirSync(d).sort() : []);
  return JSON.stringify({ releases: list(join(base, 'releases')), current: readlinkSync(join(base, 'current')), downloads: list(join(base, 'downloads')), boot: list(join(base, 'boot')) });
}

describe('firmware update over the air (sim board, real processes)', () => {
  it('a good update: downloaded, verified, switched, restarted into the new release, proven on trial and kept; the old one stays as previous', async () => {
    const v1 = release('1.0.0');
    // Incompressible padding: a download of some megabytes, as a real release's 50 MB.
    const v2 = release('1.1.0', 'daemon', { files: { 'share/pad.txt': randomBytes(6_000_000).toString('base64') } });
    const d = await device(v1);
    const t0 = performance.now();
    const r = await d.call('firmware.update', { url: server.url(basename(v2.manifestFile)) });
    expect(r).toMatchObject({ ok: true, result: { accepted: true, version: '1.1.0', from: '1.0.0', keyId: keys.keyId } });
    const on = await running(d.state, '1.1.0');
    const switchedMs = performance.now() - t0;
    expect(on.release).toMatchObject({ id: '1.1.0', installed: true, trial: { status: 'on-trial', boots: 1, maxBoots: 3 } });
    expect(readlinkSync(join(d.base, 'current'))).toBe('releases/1.1.0');
    expect(readlinkSync(join(d.base, 'previous'))).toBe('releases/1.0.0');
    const kept = await running(d.state, '1.1.0', (s) => s.release?.lastUpdate?.outcome === 'updated');
    expect(kept.release.trial).toBeUndefined();
    expect(kept.release.lastUpdate).toMatchObject({ outcome: 'updated', from: '1.0.0', to: '1.1.0', release: '1.1.0' });
    expect(existsSync(join(d.base, 'boot', 'trial.json'))).toBe(false);
    expect(existsSync(join(d.base, 'releases', '1.0.0', 'bin', 'camd'))).toBe(true);
    expect(readdirSync(join(d.base, 'downloads'))).toEqual([]);
    console.log(`ota: update of ${(v2.bytes / 1e6).toFixed(2)} MB accepted → new release answering in ${Math.round(switchedMs)} ms (includes the daemon restart)`);
  });

  it('refused before anything is unpacked, with a precise error, nothing on disk changed: bad signature, unknown key, wrong arch, downgrade, corrupt and truncated downloads', async () => {
    const v1 = release('2.0.0');
    const d = await device(v1);
    const before = tree(d.base);
    const other = testKeys({ dir: join(root, 'other-keys') });
    const cases: Array<[string, MadeRelease, RegExp]> = [
      ['unknown key', release('2.1.0', 'daemon', { signWith: [other] }), /not signed by a trusted key/],
      ['no signature', release('2.1.1', 'daemon', { signWith: [] }), /has no signature/],
      ['wrong arch', makeRelease({ dir: join(root, 'www'), version: '2.1.2', arch: ARCH === 'arm64' ? 'x64' : 'arm64', kind: 'daemon', keys }), /is for (x64|arm64), this camera is/],
      ['downgrade', release('1.9.0'), /downgrade|older/i],
    ];
    for (const [what, rel, error] of cases) {
      const r = await d.call('firmware.update', { url: server.url(basename(rel.manifestFile)) });
      expect(r.ok, what).toBe(false);
      expect(r.ok ? '' : r.error.message, what).toMatch(error);
      expect(tree(d.base), what).toBe(before);
    }
    // A signature over another manifest: one field changed after signing.
    const tampered = release('2.2.0');
    const file = JSON.parse(readFileSync(tampered.manifestFile, 'utf8')) as { manifest: { minVersion: string } };
    file.manifest.minVersion = '0.0.1';
    writeFileSync(join(root, 'www', 'tampered.manifest.json'), JSON.stringify(file));
    const rt = await d.call('firmware.update', { url: server.url('tampered.manifest.json') });
    expect(rt.ok ? '' : rt.error.message).toMatch(/not signed by a trusted key/);

    // The tarball does not match its signed sha256 / is shorter than signed: accepted (the
    // manifest is fine), then the download is refused and removed.
    const bad = release('2.3.0');
    corrupt(bad.tarball);
    expect(await d.call('firmware.update', { url: server.url(basename(bad.manifestFile)) })).toMatchObject({ ok: true });
    const failed = await waitUntil(async () => ((await d.state())?.update?.phase === 'failed' ? (await d.state())!.update : undefined), 'the corrupt update failing', 30_000, 100);
    expect(failed.error).toMatch(/corrupt download: sha256 [0-9a-f]{64}, the signed manifest says/);
    expect(tree(d.base)).toBe(before);
    const short = release('2.4.0');
    truncate(short.tarball, Math.floor(short.bytes / 2));
    expect(await d.call('firmware.update', { url: server.url(basename(short.manifestFile)) })).toMatchObject({ ok: true });
    const failed2 = await waitUntil(async () => {
      const u = (await d.state())?.update;
      return u?.phase === 'failed' && u.version === '2.4.0' ? u : undefined;
    }, 'the truncated update failing', 60_000, 100);
    expect(failed2.error).toMatch(/signed manifest says/);
    expect(tree(d.base)).toBe(before);
    expect((await d.state())!.release.version).toBe('2.0.0');
  });

  for (const [what, kind] of [
    ['exits at start', 'exit'],
    ['hangs before ready', 'hang'],
    ['is healthy, then crash-loops within the trial', { kind: 'crash-after', ms: 2500 }],
  ] as Array<[string, ReleaseKind]>) {
    it(`a release that ${what}: rolled back by the boot guard, no script involved; the outcome is in the state after the next boot`, async () => {
      const n = releases.size;
      const v1 = release(`3.${n}.0`);
      const bad = release(`3.${n}.1`, kind);
      // A hang is caught by the start timeout (TimeoutStartSec), once per start on trial.
      const d = await device(v1, {}, kind === 'hang' ? 20_000 : 45_000);
      const t0 = performance.now();
      expect(await d.call('firmware.update', { url: server.url(basename(bad.manifestFile)) })).toMatchObject({ ok: true });
      const back = await running(d.state, v1.version, (s) => s.release?.lastUpdate?.outcome === 'rolled-back');
      const ms = performance.now() - t0;
      expect(back.release.lastUpdate).toMatchObject({ outcome: 'rolled-back', from: bad.version, to: v1.version, release: v1.version });
      expect(back.release.lastUpdate.reason).toMatch(/start/);
      expect(readlinkSync(join(d.base, 'current'))).toBe(`releases/${v1.version}`);
      expect(existsSync(join(d.base, 'releases', bad.version, '.failed'))).toBe(true);
      expect(existsSync(join(d.base, 'boot', 'trial.json'))).toBe(false);
      console.log(`ota: a release that ${what} → ${v1.version} running again after ${Math.round(ms)} ms (${runner!.starts.length} starts)`);
    });
  }

  it('camctl update <file>: a local install from a manifest on the camera, with its progress and the release it ends on', async () => {
    const v1 = release('6.0.0');
    const v2 = release('6.1.0', 'daemon', { files: { 'share/pad.txt': randomBytes(3_000_000).toString('base64') } });
    const d = await device(v1);
    // Not spawnSync: the test's stand-in for systemd lives in this process and must restart the daemon meanwhile.
    const camctl = await runCamctl(join(d.base, 'current', 'bin', 'camctl'), ['--socket', d.socket, 'update', v2.manifestFile]);
    expect(camctl.status, camctl.stderr).toBe(0);
    expect(camctl.stdout).toContain(`updating 6.0.0 → 6.1.0 (${(v2.bytes / 1e6).toFixed(1)} MB, signed by key ${keys.keyId})`);
    expect(camctl.stdout).toMatch(/running 6\.1\.0, on trial \(start 1\/3; kept after 5 s healthy\)/);
    // A downgrade from the shell needs saying so; without it, the reason is printed and nothing changes.
    await running(d.state, '6.1.0', (s) => s.release?.lastUpdate?.outcome === 'updated');
    const down = await runCamctl(join(d.base, 'current', 'bin', 'camctl'), ['--socket', d.socket, 'update', v1.manifestFile]);
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/update refused: .*downgrade/);
  });

  it('a release whose own board file is broken: exit 1 instead of 78 while on trial, so systemd restarts it and the guard rolls it back', async () => {
    const v1 = release('5.0.0');
    // bin/camd of this release names a board file its schema rejects (a later --board wins).
    const tsx = fileURLToPath(import.meta.resolve('tsx'));
    const script = `#!/bin/sh\nhere=$(dirname "$(readlink -f "$0")")\nCAMD_RELEASE_DIR=$(dirname "$here")\nexport CAMD_RELEASE_DIR\nexec '${process.execPath}' --import '${tsx}' '${join(REPO, 'src/main.ts')}' "$@" --board "$CAMD_RELEASE_DIR/board/broken.json"\n`;
    const bad = release('5.0.1', 'daemon', { files: { 'bin/camd': script, 'board/broken.json': '{"name": 1}' } });
    const d = await device(v1);
    expect(await d.call('firmware.update', { url: server.url(basename(bad.manifestFile)) })).toMatchObject({ ok: true });
    const back = await running(d.state, v1.version, (s) => s.release?.lastUpdate?.outcome === 'rolled-back');
    expect(back.release.lastUpdate).toMatchObject({ from: '5.0.1', to: '5.0.0' });
    const trialExits = runner!.starts.filter((x) => x.release === '5.0.1').map((x) => x.exit?.code);
    expect(trialExits.length).toBeGreaterThanOrEqual(3);
    expect(trialExits.every((c) => c === 1)).toBe(true);
    expect(runner!.starts.find((x) => x.release === '5.0.1')!.output()).toContain('on trial: exiting 1');
  });

  it('kill -9 at every step (download, verify, unpack, switch, first boot): one complete release always boots, and the repeated update resumes or starts over cleanly', async () => {
    const v1 = release('4.0.0');
    const v2 = release('4.1.0', 'daemon', { files: { 'share/pad.txt': randomBytes(6_000_000).toString('base64') } });
    const name = basename(v2.tarball);
    server.throttle.set(name, 2_000_000); // ~4 s of download
    const d = await device(v1);
    const url = server.url(basename(v2.manifestFile));
    const complete = (): string => {
      const id = basename(readlinkSync(join(d.base, 'current')));
      expect(existsSync(join(d.base, 'releases', id, 'bin', 'camd')), `current -> ${id} is a whole release`).toBe(true);
      expect(existsSync(join(d.base, 'releases', id, 'release.json'))).toBe(true);
      return id;
    };
    const killDaemon = (): void => {
      const pid = runner!.current()?.pid;
      if (pid) process.kill(pid, 'SIGKILL');
    };
    const seen: string[] = [];
    /** Starts the update, kills the daemon once `when` says so, waits for it to be back. */
    const attempt = async (when: (u: Record<string, any>) => boolean, label: string): Promise<void> => {
      const st = await running(d.state, v1.version);
      expect(st.release.version).toBe(v1.version);
      const r = await d.call('firmware.update', { url });
      expect(r.ok, JSON.stringify(r)).toBe(true);
      const at = await waitUntil(async () => {
        const u = (await d.state())?.update;
        return u && when(u) ? u : undefined;
      }, `the update at ${label}`, 30_000, 20);
      killDaemon();
      seen.push(`${label}: killed at ${at.phase}${at.bytes ? ` ${at.bytes}/${at.total}` : ''} → current ${complete()}`);
      // The runner starts it again (SIGKILL is a failure): whichever release, a whole one answers.
      await waitUntil(async () => ((await d.state())?.lifecycle === 'running' ? true : undefined), 'the daemon back after kill -9', 60_000, 100);
      complete();
    };
    await attempt((u) => u.phase === 'downloading' && u.bytes > 0 && u.bytes < u.total / 3, 'early download');
    await attempt((u) => u.phase === 'downloading' && u.bytes > u.total / 2, 'late download');
    // The tail of the update is fast: kill as soon as the download is through.
    server.throttle.delete(name);
    await attempt((u) => ['verifying', 'unpacking', 'switching', 'restarting'].includes(u.phase), 'after the download');
    // Whatever that kill hit, the device runs a whole release; if it is still the old one, the
    // update goes again, and this time the new release is killed at its first boot.
    let st = (await d.state())!;
    if (st.release.version === v1.version) {
      expect((await d.call('firmware.update', { url })).ok).toBe(true);
    }
    await waitUntil(async () => (runner!.current()?.release === v2.version ? true : undefined), 'the first boot of the new release', 60_000, 20);
    killDaemon();
    seen.push(`first boot: killed → current ${complete()}`);
    // On trial, killed once: the guard counts it; the next start proves the release and keeps it.
    st = await running(d.state, v2.version, (s) => s.release?.lastUpdate?.outcome === 'updated');
    expect(complete()).toBe(v2.version);
    expect(readdirSync(join(d.base, 'releases')).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(readdirSync(join(d.base, 'downloads'))).toEqual([]);
    const resumed = server.requests.filter((q) => q.path === name && q.status === 206).length;
    console.log(`ota kill -9: ${seen.join('; ')}; ${resumed} resumed download request(s)`);
    expect(resumed).toBeGreaterThan(0);
  }, 600_000);
});
