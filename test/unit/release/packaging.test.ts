import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO } from '../../harness/boot.js';

const RELEASE = join(REPO, 'scripts/release');
const HOST = process.arch === 'arm64' ? 'arm64' : 'x64';
const OTHER = HOST === 'x64' ? 'arm64' : 'x64';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'camd-pack-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function put(path: string, content: string | Buffer = 'x'): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** The first 20 bytes of an ELF64 little-endian shared object for `machine` (0xb7 aarch64, 0x3e x86-64). */
function elf(machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little endian
  b[6] = 1;
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(machine, 18);
  return b;
}
const ELF = { arm64: elf(0xb7), x64: elf(0x3e) };

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });

describe('prune.sh', () => {
  function modules(): string {
    const nm = join(tmp, 'node_modules');
    for (const p of ['linux/arm64', 'linux/x64', 'darwin/arm64', 'win32/x64']) put(join(nm, 'onnxruntime-node/bin/napi-v6', p, 'onnxruntime_binding.node'));
    put(join(nm, 'onnxruntime-node/dist/index.js'));
    put(join(nm, 'onnxruntime-node/dist/index.d.ts'));
    for (const p of ['linux-arm64', 'linux-x64', 'win32-x64']) put(join(nm, '@serialport/bindings-cpp/prebuilds', p, 'b.node'));
    put(join(nm, 'epoll/binding.gyp'));
    put(join(nm, 'epoll/build/Release/epoll.node'));
    put(join(nm, 'epoll/build/Release/obj.target/epoll/src/epoll.o'));
    put(join(nm, 'epoll/build/Makefile'));
    put(join(nm, 'epoll/epoll.js'));
    put(join(nm, 'fluent-ffmpeg/coverage/lcov.info'));
    put(join(nm, 'fluent-ffmpeg/coverage/lcov-report/index.html'));
    // A library whose code lives in a folder named coverage: kept.
    put(join(nm, 'istanbul-lib/coverage/index.js'));
    put(join(nm, 'zod/index.js'));
    put(join(nm, 'zod/index.js.map'));
    // A "build" folder that is library code, not a node-gyp tree: must survive.
    put(join(nm, 'pino/build/index.js'));
    return nm;
  }

  it('keeps only the target platform, the built addons and runtime files', () => {
    const nm = modules();
    const r = run('bash', [join(RELEASE, 'prune.sh'), nm, 'arm64']);
    expect(r.status, r.stderr).toBe(0);
    const has = (p: string): boolean => existsSync(join(nm, p));
    expect(has('onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node')).toBe(true);
    expect(has('onnxruntime-node/bin/napi-v6/linux/x64')).toBe(false);
    expect(has('onnxruntime-node/bin/napi-v6/darwin')).toBe(false);
    expect(has('onnxruntime-node/bin/napi-v6/win32')).toBe(false);
    expect(has('@serialport/bindings-cpp/prebuilds/linux-arm64/b.node')).toBe(true);
    expect(has('@serialport/bindings-cpp/prebuilds/linux-x64')).toBe(false);
    expect(has('epoll/build/Release/epoll.node')).toBe(true);
    expect(has('epoll/build/Release/obj.target')).toBe(false);
    expect(has('epoll/build/Makefile')).toBe(false);
    expect(has('epoll/epoll.js')).toBe(true);
    expect(has('pino/build/index.js')).toBe(true);
    expect(has('onnxruntime-node/dist/index.js')).toBe(true);
    expect(has('onnxruntime-node/dist/index.d.ts')).toBe(false);
    expect(has('zod/index.js.map')).toBe(false);
    expect(has('fluent-ffmpeg/coverage')).toBe(false);
    expect(has('istanbul-lib/coverage/index.js')).toBe(true);
  });

  it('fails when onnxruntime-node has no binary for the target', () => {
    const nm = join(tmp, 'node_modules');
    put(join(nm, 'onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node'));
    const r = run('bash', [join(RELEASE, 'prune.sh'), nm, 'arm64']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('onnxruntime-node has no linux/arm64 binary');
  });
});

describe('check-elf.mjs', () => {
  it('accepts a tree of target binaries and names every foreign one', () => {
    put(join(tmp, 'a/ok.node'), ELF.arm64);
    put(join(tmp, 'a/lib/libonnxruntime.so.1'), ELF.arm64);
    put(join(tmp, 'a/readme.txt'), 'not an ELF file at all');
    expect(run('node', [join(RELEASE, 'check-elf.mjs'), 'arm64', join(tmp, 'a')]).stdout).toContain('2 ELF files, all arm64');
    put(join(tmp, 'a/sneaky.node'), ELF.x64);
    const r = run('node', [join(RELEASE, 'check-elf.mjs'), 'arm64', join(tmp, 'a')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${join(tmp, 'a/sneaky.node')}: x64`);
  });

  it('reads a real binary: this machine\'s node', () => {
    try {
      linkSync(process.execPath, join(tmp, 'node')); // ~100 MB: link, copy only across file systems
    } catch {
      copyFileSync(process.execPath, join(tmp, 'node'));
    }
    expect(run('node', [join(RELEASE, 'check-elf.mjs'), HOST, tmp]).status).toBe(0);
    expect(run('node', [join(RELEASE, 'check-elf.mjs'), OTHER, tmp]).status).toBe(1);
  });
});

describe('assemble.sh', () => {
  /** A minimal compiled app and node_modules: assemble only copies, checks and packs. */
  function inputs(arch: 'arm64' | 'x64'): { dist: string; nm: string } {
    const dist = join(tmp, 'in/dist');
    put(join(dist, 'src/main.js'), '// main\n');
    put(join(dist, 'src/cli/camctl.js'), '// camctl\n');
    put(join(dist, 'src/config/schema.js'), 'export function defaultConfig() { return { led: { enabled: true } }; }\n');
    put(join(dist, 'test/should-not-ship.test.js'), '');
    const nm = join(tmp, 'in/node_modules');
    put(join(nm, 'onnxruntime-node/bin/napi-v6/linux', arch, 'onnxruntime_binding.node'), ELF[arch]);
    put(join(nm, 'zod/index.js'), 'export {};\n');
    return { dist, nm };
  }
  /** A stand-in for the runtime: an ELF header for `arch` (the real one is ~100 MB to gzip). */
  function nodeBinary(arch: 'arm64' | 'x64'): string {
    const p = join(tmp, `node-${arch}`);
    put(p, ELF[arch]);
    chmodSync(p, 0o755);
    return p;
  }
  const assemble = (arch: 'arm64' | 'x64', dist: string, nm: string, out: string, node = nodeBinary(HOST)) =>
    run('bash', [join(RELEASE, 'assemble.sh'), '--arch', arch, '--dist', dist, '--modules', nm, '--node', node, '--node-version', '20.20.2', '--out', out], {
      SOURCE_DATE_EPOCH: '1767225600',
      CAMD_VERSION: '1.2.3-test.1',
      CAMD_COMMIT: 'abc123',
      CAMD_BUILDER: 'test',
    });

  it('packs one versioned tarball with the release layout, reproducibly', () => {
    const { dist, nm } = inputs(HOST);
    const r = assemble(HOST, dist, nm, join(tmp, 'out'));
    expect(r.status, r.stderr).toBe(0);
    const tarball = join(tmp, 'out', `camd-1.2.3-test.1-linux-${HOST}.tar.gz`);
    expect(r.stdout.trim()).toBe(tarball);
    const list = run('tar', ['-tzvf', tarball]).stdout;
    const names = list.split('\n').filter(Boolean).map((l) => l.split(/\s+/).at(-1)!);
    const p = 'camd-1.2.3-test.1/';
    for (const f of [
      'release.json', 'package.json', 'package-lock.json', 'bin/camd', 'bin/camctl', 'bin/camd-setup-board', 'bin/camd-boot-guard', 'share/rtsp/camd-rtsp.py', 'runtime/bin/node',
      'dist/src/main.js', 'board/sim.json', 'src/detect/models/FastestDet.onnx', 'src/detect/models/FastestDet.LICENSE.md',
      'src/detect/models/coco.names', 'systemd/camd.service', 'systemd/camd.sysusers', 'systemd/camd.default', 'share/config-defaults.json',
    ]) {
      expect(names, f).toContain(p + f);
    }
    expect(names.some((n) => n.includes('dist/test'))).toBe(false);
    // Owned by root, executables executable.
    expect(list).toMatch(/-rwxr-xr-x 0\/0 .* camd-1\.2\.3-test\.1\/bin\/camd\n/);
    const meta = JSON.parse(run('tar', ['-xzOf', tarball, `${p}release.json`]).stdout) as Record<string, string>;
    expect(meta).toEqual({ name: 'camd', version: '1.2.3-test.1', platform: 'linux', arch: HOST, node: '20.20.2', commit: 'abc123', builtAt: '2026-01-01T00:00:00Z', builder: 'test' });
    expect(JSON.parse(run('tar', ['-xzOf', tarball, `${p}share/config-defaults.json`]).stdout)).toEqual({ led: { enabled: true } });

    const again = assemble(HOST, dist, nm, join(tmp, 'out2'));
    expect(again.status).toBe(0);
    expect(readFileSync(join(tmp, 'out2', `camd-1.2.3-test.1-linux-${HOST}.tar.gz`)).equals(readFileSync(tarball))).toBe(true);
  });

  it('refuses to pack a node binary or addon built for another machine', () => {
    const { dist, nm } = inputs(OTHER);
    const r = assemble(OTHER, dist, nm, join(tmp, 'out'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`runtime/bin/node: ${HOST}`));
    expect(existsSync(join(tmp, 'out', `camd-1.2.3-test.1-linux-${OTHER}.tar.gz`))).toBe(false);
  });

  it('refuses something that is not a compiled camd', () => {
    const r = assemble(HOST, join(tmp, 'nothing'), join(tmp, 'nothing'), join(tmp, 'out'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is not a compiled camd');
  });
});
