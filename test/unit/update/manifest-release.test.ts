// test/harness/releases.ts: what its release tarballs contain and what their bin/camd does (the OTA
// tests rely on each kind behaving exactly as described).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { verifyManifest } from '../../../src/update/manifest.js';
import { NO_BROKER, SIM_BOARD_FILE } from '../../harness/boot.js';
import { waitFor } from '../../harness/daemon.js';
import { corrupt, makeRelease, testKeys, truncate, type ReleaseKind } from '../../harness/releases.js';
import { PROCESS_TIMEOUTS, patience } from '../../harness/wait.js';

vi.setConfig(PROCESS_TIMEOUTS);

const tmp = mkdtempSync(join(tmpdir(), 'camd-releases-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const keys = testKeys({ dir: join(tmp, 'keys') });

/** Unpacks a made release as <base>/releases/<v> with <base>/current pointing at it. */
function install(kind: ReleaseKind, version: string): { base: string; bin: string; rel: string } {
  const base = join(tmp, `base-${version}`);
  const r = makeRelease({ dir: join(tmp, 'dl'), version, arch: 'x64', kind, keys });
  const rel = join(base, 'releases', version);
  mkdirSync(rel, { recursive: true });
  const t = spawnSync('tar', ['-xzf', r.tarball, '-C', rel, '--strip-components=1']);
  expect(t.status).toBe(0);
  symlinkSync(`releases/${version}`, join(base, 'current'));
  return { base, bin: join(base, 'current', 'bin'), rel };
}

function daemonArgs(dir: string): string[] {
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(NO_BROKER));
  return ['--board', SIM_BOARD_FILE, '--data-dir', join(dir, 'data'), '--run-dir', join(dir, 'run'), '--card-dir', join(dir, 'card')];
}

/** Command lines of processes that mention `needle` (to prove nothing was left running). */
function processesWith(needle: string): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(needle)) out.push(cmd);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function exitOf(proc: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('makeRelease', () => {
  it('packs release.json, the trusted keys and executable bin scripts under camd-<v>/, with a verifying manifest', () => {
    const r = makeRelease({ dir: join(tmp, 'pack'), version: '3.1.4', arch: 'arm64', kind: 'daemon', keys, minVersion: '3.0.0' });
    expect(r.tarball).toBe(join(tmp, 'pack', 'camd-3.1.4-linux-arm64.tar.gz'));
    expect(r.manifestFile).toBe(join(tmp, 'pack', 'camd-3.1.4-linux-arm64.manifest.json'));
    const list = spawnSync('tar', ['-tzvf', r.tarball], { encoding: 'utf8' }).stdout;
    expect(list).toMatch(/^-rwxr-xr-x .* camd-3\.1\.4\/bin\/camd$/m);
    expect(list).toMatch(/^-rwxr-xr-x .* camd-3\.1\.4\/bin\/camctl$/m);
    const meta = JSON.parse(spawnSync('tar', ['-xzOf', r.tarball, 'camd-3.1.4/release.json'], { encoding: 'utf8' }).stdout) as Record<string, string>;
    expect(Object.keys(meta)).toEqual(['name', 'version', 'platform', 'arch', 'node', 'commit', 'builtAt', 'builder']);
    expect(meta).toMatchObject({ name: 'camd', version: '3.1.4', arch: 'arm64', platform: 'linux' });
    expect(spawnSync('tar', ['-xzOf', r.tarball, 'camd-3.1.4/share/update-keys.json'], { encoding: 'utf8' }).stdout).toBe(readFileSync(keys.keysFile, 'utf8'));
    const v = verifyManifest(readFileSync(r.manifestFile), keys.trusted);
    expect(v.manifest).toEqual(r.manifest);
    expect(v.manifest).toMatchObject({ minVersion: '3.0.0', tarball: { bytes: statSync(r.tarball).size, sha256: r.sha256 } });
    // Unsigned on request.
    const u = makeRelease({ dir: join(tmp, 'pack'), version: '3.1.5', arch: 'arm64', kind: 'exit', keys, signWith: [] });
    expect(() => verifyManifest(readFileSync(u.manifestFile), keys.trusted)).toThrow('has no signature');
  });

  it('corrupt keeps the size and changes the bytes; truncate cuts', () => {
    const f = join(tmp, 'blob');
    writeFileSync(f, Buffer.from('0123456789'));
    corrupt(f);
    expect(readFileSync(f).length).toBe(10);
    expect(readFileSync(f).toString()).not.toBe('0123456789');
    expect(readFileSync(f)[5]).toBe('5'.charCodeAt(0) ^ 0xff);
    truncate(f, 4);
    expect(readFileSync(f).length).toBe(4);
    expect(() => truncate(f, 5)).toThrow('shorter than 5 bytes');
  });
});

describe('release kinds', () => {
  it("'exit' exits 1 at once; 'hang' stays up without a socket", async () => {
    const e = install('exit', '5.0.0');
    const r = spawnSync(join(e.bin, 'camd'), daemonArgs(join(tmp, 'run-exit')), { encoding: 'utf8', timeout: patience(2_000) });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('exits at start');

    const h = install('hang', '5.0.1');
    const dir = join(tmp, 'run-hang');
    const proc = spawn(join(h.bin, 'camd'), daemonArgs(dir), { stdio: 'ignore' });
    const exited = exitOf(proc);
    await new Promise((res) => setTimeout(res, 1_500));
    expect(proc.exitCode).toBeNull();
    expect(existsSync(join(dir, 'run', 'camd.sock'))).toBe(false);
    proc.kill('SIGTERM');
    expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it("'daemon' runs the real daemon from its own release dir; its camctl talks to it", async () => {
    const d = install('daemon', '6.0.0');
    const dir = join(tmp, 'run-daemon');
    const proc = spawn(join(d.bin, 'camd'), daemonArgs(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = exitOf(proc);
    try {
      const socket = join(dir, 'run', 'camd.sock');
      await waitFor(() => {
        if (proc.exitCode !== null) throw new Error(`daemon exited (${proc.exitCode}):\n${out}`);
        if (!existsSync(socket)) return false;
        const s = spawnSync(join(d.bin, 'camctl'), ['--socket', socket, '--json', 'status'], { encoding: 'utf8' });
        return s.stdout.includes('"lifecycle":"running"');
      }, 30_000, 250);
      // exec: the pid is the daemon itself, with CAMD_RELEASE_DIR = the release (not current/).
      const env = readFileSync(`/proc/${proc.pid}/environ`, 'utf8').split('\0');
      expect(env).toContain(`CAMD_RELEASE_DIR=${realpathSync(d.rel)}`);
    } finally {
      proc.kill('SIGTERM');
    }
    expect((await exited).code).toBe(0);
  });

  it("'crash-after' is SIGKILLed after its time and exits 1, leaving no process behind", async () => {
    // Long enough for the daemon to have started on a busy machine (~2 s idle): the test proves
    // it ran by its log, whose first lines come before the control socket.
    const c = install({ kind: 'crash-after', ms: 8_000 }, '7.0.0');
    const dir = join(tmp, 'run-crash');
    const started = performance.now();
    const proc = spawn(join(c.bin, 'camd'), daemonArgs(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
    expect(await exitOf(proc)).toEqual({ code: 1, signal: null });
    expect(performance.now() - started).toBeGreaterThanOrEqual(8_000);
    expect(err).toContain('killed after 8000 ms');
    expect(out).toContain('"msg":"hardware opened"');
    // The wrapper, its timer and the daemon are gone at once; the daemon's ffmpeg children (which
    // a SIGKILL orphans, as on the board without systemd's cgroup kill) end at their next write.
    expect(processesWith(dir).filter((cmd) => !cmd.startsWith('ffmpeg '))).toEqual([]);
    await waitFor(() => processesWith(dir).length === 0, 10_000, 100);

    // SIGTERM to the wrapper reaches the daemon, which stops cleanly, timer and all.
    const dir2 = join(tmp, 'run-crash-term');
    const c2 = install({ kind: 'crash-after', ms: 600_000 }, '7.0.1');
    const p2 = spawn(join(c2.bin, 'camd'), daemonArgs(dir2), { stdio: 'ignore' });
    const exited2 = exitOf(p2);
    await waitFor(() => existsSync(join(dir2, 'run', 'camd.sock')), 30_000, 100);
    p2.kill('SIGTERM');
    expect((await exited2).code).toBe(143);
    await waitFor(() => processesWith(dir2).length === 0 && processesWith('}, 600000)').length === 0, 10_000, 100);
  });
});
