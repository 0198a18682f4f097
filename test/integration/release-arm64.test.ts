import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../harness/boot.js';

/**
 * The arm64 proof: build the release without Docker (TypeScript here, production node_modules in
 * the Debian arm64 root under qemu-user), unpack it into that root, boot the daemon on the sim
 * board under emulation and get `camctl status` = running (scripts/release/prove-arm64.sh).
 * Needs a built root (scripts/release/arm64-root.sh, ~30+ min the first time: far beyond CI's
 * budget), root privileges and qemu-user-static, so it runs only when CAMD_ARM64_ROOT names one.
 */
const ROOT = process.env.CAMD_ARM64_ROOT;
const skipReason = !ROOT
  ? 'CAMD_ARM64_ROOT is not set (build one with sudo scripts/release/arm64-root.sh)'
  : !existsSync(join(ROOT, 'usr/local/bin/node'))
    ? `CAMD_ARM64_ROOT=${ROOT} has no Node (run scripts/release/arm64-root.sh)`
    : process.getuid?.() !== 0
      ? 'needs root (chroot into the arm64 root)'
      : undefined;
if (skipReason) console.warn(`release-arm64: skipped: ${skipReason}`);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => res({ code, out, err }));
  });
}

describe.skipIf(!!skipReason)('arm64 release under emulation', () => {
  it('builds the tarball, boots it on the sim board and answers camctl status', async () => {
    const out = mkdtempSync(join(tmpdir(), 'camd-arm64-'));
    try {
      const env = { CAMD_ARM64_ROOT: ROOT, CAMD_VERSION: '0.0.0-arm64proof' };
      const build = await run('bash', [join(REPO, 'scripts/release/build-release.sh'), '--out', out], env);
      expect(build.code, build.err).toBe(0);
      const tarball = join(out, 'camd-0.0.0-arm64proof-linux-arm64.tar.gz');
      expect(build.out.trim()).toBe(tarball);
      expect(build.err).toMatch(/check-elf: \d+ ELF files, all arm64/);

      const prove = await run('bash', [join(REPO, 'scripts/release/prove-arm64.sh'), tarball], env);
      expect(prove.code, prove.err).toBe(0);
      // Every native addon loaded as arm64 and the model ran in onnxruntime.
      expect(prove.err).toMatch(/"arch":"arm64".*"epoll":"loaded".*"i2c-bus":"loaded".*"@serialport\/bindings-cpp":"loaded".*"onnx":/);
      expect(prove.err).toMatch(/camd on sim \(sim\) — running/);
      expect(prove.err).toContain('SIGTERM: clean exit');
      const summary = JSON.parse(prove.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(summary).toMatchObject({ proved: true, version: '0.0.0-arm64proof' });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 30 * 60_000);
});
