import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPO } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * scripts/release/deploy.sh against a local directory tree. The one fake here is the dev kit
 * itself: `ssh`/`scp` on PATH run the "remote" side on this machine, and `systemctl`/`journalctl`
 * start and watch the REAL daemon (tsx, sim board) from <base>/current the way the unit would.
 * A broken release is a real one that fails: its board file is invalid, so camd exits 78.
 */

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
const TSX_LOADER = resolve(REPO, 'node_modules/tsx/dist/loader.mjs');

let tmp: string;
let fakeRoot: string;
let base: string;
let bin: string;
let callLog: string;

function sh(path: string, body: string): void {
  writeFileSync(path, body);
  chmodSync(path, 0o755);
}

function writeFakes(): void {
  sh(
    join(bin, 'ssh'),
    `#!/usr/bin/env bash
# fake ssh: the "dev kit" is this machine; run the remote command here.
while (($#)); do case $1 in -O) exit 0 ;; -o|-p|-i|-l|-F) shift 2 ;; -*) shift ;; *) break ;; esac; done
host=$1; shift
echo "ssh $host $*" >> "$FAKE_LOG"
exec bash -c "$*"
`,
  );
  sh(
    join(bin, 'scp'),
    `#!/usr/bin/env bash
# fake scp: copy to the "remote" path on this machine.
args=()
while (($#)); do case $1 in -o|-P|-i|-F) shift 2 ;; -*) shift ;; *) args+=("$1"); shift ;; esac; done
dest=\${args[-1]#*:}
echo "scp \${args[*]}" >> "$FAKE_LOG"
cp "\${args[@]:0:\${#args[@]}-1}" "$dest"
`,
  );
  // The unit's ExecStart/WorkingDirectory, run by hand: started from <base>/current like systemd would.
  sh(
    join(bin, 'systemctl'),
    `#!/usr/bin/env bash
echo "systemctl $*" >> "$FAKE_LOG"
pidf=$FAKE_ROOT/run/camd.pid
alive() { [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; }
case $1 in
  daemon-reload|enable|reset-failed) exit 0 ;;
  stop|restart)
    if alive; then kill -TERM "$(cat "$pidf")"; for _ in $(seq 100); do alive || break; sleep 0.1; done; fi
    rm -f "$pidf"
    [[ $1 == stop ]] && exit 0
    mkdir -p "$FAKE_ROOT/run/camd" "$FAKE_ROOT/var/lib/camd" "$FAKE_ROOT/media/card"
    # systemd starts the unit with no inherited descriptors (the deploy lock among them).
    for fd in /proc/$$/fd/*; do n=\${fd##*/}; ((n > 2)) && eval "exec $n>&-"; done
    cd "$FAKE_BASE/current"
    setsid ./bin/camd --board "$FAKE_BASE/current/board/sim.json" --data-dir "$FAKE_ROOT/var/lib/camd" \\
      --run-dir "$FAKE_ROOT/run/camd" --card-dir "$FAKE_ROOT/media/card" >> "$FAKE_ROOT/camd.journal" 2>&1 < /dev/null &
    echo $! > "$pidf"
    ;;
  is-failed) [[ -f $pidf ]] && ! alive ;;
  is-active) alive ;;
  show) alive && cat "$pidf" || echo 0 ;;
  *) echo "fake systemctl: unsupported: $*" >&2; exit 1 ;;
esac
`,
  );
  sh(join(bin, 'journalctl'), '#!/usr/bin/env bash\ntail -n 20 "$FAKE_ROOT/camd.journal"\n');
}

/**
 * A release tarball with the real board-side wrappers (bin/camd, bin/camctl): the runtime is this
 * machine's node with tsx, and dist/ forwards to the TypeScript sources, so no compile is needed.
 */
function makeRelease(version: string, opts: { brokenBoard?: boolean; arch?: string; buildTag?: string } = {}): string {
  const dir = join(tmp, 'build', version + (opts.buildTag ? '-rebuilt' : ''));
  const root = join(dir, `camd-${version}`);
  for (const d of ['bin', 'runtime/bin', 'dist/src/cli', 'board']) mkdirSync(join(root, d), { recursive: true });
  for (const f of ['camd', 'camctl']) copyFileSync(join(REPO, 'scripts/release/board', f), join(root, 'bin', f));
  chmodSync(join(root, 'bin/camd'), 0o755);
  chmodSync(join(root, 'bin/camctl'), 0o755);
  sh(join(root, 'runtime/bin/node'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX_LOADER}" "$@"\n`);
  writeFileSync(join(root, 'dist/src/main.js'), `import '${join(REPO, 'src/main.ts')}';\n`);
  writeFileSync(join(root, 'dist/src/cli/camctl.js'), `import '${join(REPO, 'src/cli/camctl.ts')}';\n`);
  // The sim board with every path absolute (media, model) so it boots from anywhere.
  const board = JSON.parse(readFileSync(join(REPO, 'board/sim.json'), 'utf8')) as Record<string, any>;
  const abs = (p: string): string => resolve(REPO, 'board', p);
  for (const lens of ['wide', 'ptz']) board.video[lens].source.path = abs(board.video[lens].source.path);
  board.audio.speaker.wavFile = join(fakeRoot, 'speaker.wav');
  board.audio.microphone.wavFile = join(fakeRoot, 'microphone.wav');
  board.paths.model = abs(board.paths.model);
  if (opts.brokenBoard) board.backend = 'teleport';
  writeFileSync(join(root, 'board/sim.json'), JSON.stringify(board, null, 2));
  writeFileSync(join(root, 'BUILD'), opts.buildTag ?? 'first build');
  writeFileSync(
    join(root, 'release.json'),
    `{\n  "name": "camd",\n  "version": "${version}",\n  "platform": "linux",\n  "arch": "${opts.arch ?? HOST_ARCH}"\n}\n`,
  );
  const tarball = join(dir, `camd-${version}-linux-${opts.arch ?? HOST_ARCH}.tar.gz`);
  const r = spawnSync('tar', ['-czf', tarball, '-C', dir, `camd-${version}`]);
  expect(r.status).toBe(0);
  return tarball;
}

interface Run {
  code: number | null;
  stderr: string;
}

function deploy(tarball: string, ...extra: string[]): Promise<Run> {
  return new Promise((res) => {
    const p = spawn('bash', [join(REPO, 'scripts/release/deploy.sh'), '--host', 'root@devkit', '--base', base, '--no-setup', '--timeout', '60', '--socket', join(fakeRoot, 'run/camd/camd.sock'), ...extra, tarball], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_ROOT: fakeRoot, FAKE_BASE: base, FAKE_LOG: callLog, TMPDIR: tmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => res({ code, stderr }));
  });
}

const current = (): string => readlinkSync(join(base, 'current'));
const daemonPid = (): number => Number(readFileSync(join(fakeRoot, 'run/camd.pid'), 'utf8'));
const daemonRelease = (): string => realpathSync(`/proc/${daemonPid()}/cwd`);
const releases = (): string[] => spawnSync('ls', ['-1', join(base, 'releases')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'camd-deploy-'));
  fakeRoot = join(tmp, 'devkit');
  base = join(fakeRoot, 'opt/camd');
  bin = join(tmp, 'fakebin');
  callLog = join(tmp, 'calls.log');
  mkdirSync(bin, { recursive: true });
  mkdirSync(base, { recursive: true });
  writeFakes();
});

afterAll(async () => {
  if (existsSync(join(fakeRoot, 'run/camd.pid'))) {
    const pid = daemonPid();
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // As systemd would: SIGTERM (the daemon stops its children), then SIGKILL the whole group.
    if (alive()) process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(), 15_000).catch(() => undefined);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* group already gone */
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('deploy over SSH: atomic switch, health check, rollback', () => {
  it('says what is missing before touching the dev kit', async () => {
    const noHost = spawnSync('bash', [join(REPO, 'scripts/release/deploy.sh'), 'x.tar.gz'], { encoding: 'utf8', env: { ...process.env, CAMD_DEVKIT: '' } });
    expect(noHost.status).toBe(1);
    expect(noHost.stderr).toContain('no target: pass --host user@devkit or set CAMD_DEVKIT');
    const odd = join(tmp, 'firmware.tgz');
    writeFileSync(odd, '');
    const r = await deploy(odd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not named camd-<version>-linux-<arch>.tar.gz');
    expect(existsSync(callLog)).toBe(false);
  });

  it('refuses a release for another architecture and changes nothing', async () => {
    const other = HOST_ARCH === 'x64' ? 'arm64' : 'x64';
    const r = await deploy(makeRelease('0.1.0', { arch: other }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`release 0.1.0 is for ${other}, this board is ${HOST_ARCH}`);
    expect(existsSync(join(base, 'current'))).toBe(false);
    expect(releases()).toEqual([]);
  });

  it('first deploy: unpacks, points current at it, starts it and waits for camctl status', async () => {
    const r = await deploy(makeRelease('0.2.0'));
    expect(r.stderr).toContain('OK: camd 0.2.0 is running');
    expect(r.code).toBe(0);
    expect(current()).toBe('releases/0.2.0');
    expect(daemonRelease()).toBe(realpathSync(join(base, 'releases/0.2.0')));
    const calls = readFileSync(callLog, 'utf8');
    expect(calls).toMatch(/systemctl daemon-reload\nsystemctl reset-failed camd\nsystemctl restart camd/);
    expect(existsSync(join(base, 'incoming/camd-0.2.0-linux-' + HOST_ARCH + '.tar.gz'))).toBe(false);
  }, LONG_PROCESS_TEST_MS);

  it('second deploy switches to the new release and keeps the old one as previous', async () => {
    const r = await deploy(makeRelease('0.3.0'));
    expect(r.code).toBe(0);
    expect(current()).toBe('releases/0.3.0');
    expect(readlinkSync(join(base, 'previous'))).toBe('releases/0.2.0');
    expect(daemonRelease()).toBe(realpathSync(join(base, 'releases/0.3.0')));
  }, LONG_PROCESS_TEST_MS);

  it('a release that never comes up is rolled back: current back to the previous, which runs, exit 3', async () => {
    const r = await deploy(makeRelease('0.4.0', { brokenBoard: true }));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('FAILED: release 0.4.0 did not come up: the unit failed');
    // The journal excerpt says why: the daemon refused its board file (exit 78).
    expect(r.stderr).toMatch(/\| camd: refusing to start: board file .*backend/);
    expect(r.stderr).toContain('rollback OK: camd 0.3.0 is running again');
    expect(current()).toBe('releases/0.3.0');
    expect(daemonRelease()).toBe(realpathSync(join(base, 'releases/0.3.0')));
    expect(existsSync(join(base, 'releases/0.4.0/.failed'))).toBe(true);
    const status = spawnSync(join(base, 'current/bin/camctl'), ['--socket', join(fakeRoot, 'run/camd/camd.sock'), '--json', 'status'], { encoding: 'utf8' });
    expect(JSON.parse(status.stdout)).toMatchObject({ ok: true, result: { lifecycle: 'running' } });
  }, LONG_PROCESS_TEST_MS);

  it('a good deploy after that prunes to current + previous', async () => {
    const tarball = makeRelease('0.5.0');
    const r = await deploy(tarball);
    expect(r.code).toBe(0);
    expect(releases()).toEqual(['0.3.0', '0.5.0']);
    expect(readlinkSync(join(base, 'previous'))).toBe('releases/0.3.0');
  }, LONG_PROCESS_TEST_MS);

  it('the same tarball again keeps its dir but is unpacked afresh (what root runs is the tarball\'s own); a different build of the same version gets its own', async () => {
    // The camd user may write /opt/camd: a changed file in the unpacked release must not survive a redeploy.
    writeFileSync(join(base, 'releases/0.5.0/planted'), 'written by a compromised daemon');
    const same = await deploy(join(tmp, 'build/0.5.0', `camd-0.5.0-linux-${HOST_ARCH}.tar.gz`));
    expect(same.code).toBe(0);
    expect(same.stderr).toContain('unpacked 0.5.0');
    expect(existsSync(join(base, 'releases/0.5.0/planted'))).toBe(false);
    expect(current()).toBe('releases/0.5.0');

    const rebuilt = await deploy(makeRelease('0.5.0', { buildTag: 'second build' }));
    expect(rebuilt.code).toBe(0);
    expect(current()).toMatch(/^releases\/0\.5\.0-[0-9a-f]{8}$/);
    expect(readlinkSync(join(base, 'previous'))).toBe('releases/0.5.0');
    expect(daemonRelease()).toBe(realpathSync(join(base, current())));
  }, LONG_PROCESS_TEST_MS);
});
