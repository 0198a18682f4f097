import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '../../src/core/prng.js';
import { REPO } from '../harness/boot.js';
import { BOOT_GUARD, daemonRunning, runService, type ServiceRunner, type ServiceStart } from '../harness/service-runner.js';
import { PROCESS_TIMEOUTS, pause, waitUntil } from '../harness/wait.js';

// Real processes and real files: timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * Automatic rollback at boot (issue 13, README "Firmware updates"): the boot guard
 * (scripts/release/board/camd-boot-guard) run before every start by a stand-in for systemd
 * (test/harness/service-runner.ts), against fake releases laid out here: bin/camd is a tiny sh
 * script that stays up and writes a ready file ('good'), exits at once, hangs, becomes ready then
 * crashes, or cannot run at all. The guard runs under dash (the board's /bin/sh) when it is here.
 */

const SHELL = spawnSync('dash', ['-c', 'exit 0']).status === 0 ? 'dash' : 'sh';

type Mode = 'good' | 'exit' | 'hang' | 'crash-after-ready' | 'crash-on-demand' | 'not-executable' | 'no-runtime';

const SCRIPTS: Record<Exclude<Mode, 'not-executable' | 'no-runtime'>, string> = {
  good: 'ready; exec sleep 100000',
  exit: 'exit 1',
  hang: 'exec sleep 100000',
  'crash-after-ready': 'ready; sleep 0.2; exit 1',
  'crash-on-demand': 'ready; while [ ! -e "$FAKE_STATE/crash" ]; do sleep 0.02; done; exit 1',
};

interface Trial {
  release: string;
  previous: string;
  boots: number;
  maxBoots: number;
  since: number;
  from: string;
  to: string;
  cloudWasConnected?: boolean;
}

const dirs: string[] = [];
const runners: ServiceRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.stop();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh base: <base>/{releases,boot}, and a state dir for the fakes' ready files. */
function makeBase(): { base: string; state: string } {
  const root = mkdtempSync(join(tmpdir(), 'camd-boot-'));
  dirs.push(root);
  const base = join(root, 'opt-camd');
  const state = join(root, 'state');
  mkdirSync(join(base, 'releases'), { recursive: true });
  mkdirSync(join(base, 'boot'));
  mkdirSync(state);
  return { base, state };
}

/** releases/<id> with release.json and a bin/camd behaving as `mode`. */
function layRelease(base: string, id: string, mode: Mode, version = id): void {
  const rel = join(base, 'releases', id);
  mkdirSync(join(rel, 'bin'), { recursive: true });
  writeFileSync(join(rel, 'release.json'), `${JSON.stringify({ name: 'camd', version, arch: 'x64' }, null, 2)}\n`);
  const camd = join(rel, 'bin', 'camd');
  if (mode === 'no-runtime') {
    // The real wrapper of a release whose Node runtime is missing: not one line of its code runs.
    copyFileSync(join(REPO, 'scripts/release/board/camd'), camd);
    chmodSync(camd, 0o755);
    return;
  }
  const body = mode === 'not-executable' ? SCRIPTS.good : SCRIPTS[mode];
  writeFileSync(camd, `#!/bin/sh\n# fake camd (${mode})\nready() { echo "$$" > "$FAKE_STATE/ready-$$"; }\n${body}\n`);
  chmodSync(camd, mode === 'not-executable' ? 0o644 : 0o755);
}

function link(base: string, name: 'current' | 'previous', id: string): void {
  rmSync(join(base, name), { force: true });
  symlinkSync(join('releases', id), join(base, name));
}

const linked = (base: string, name: 'current' | 'previous'): string | undefined => {
  try {
    return readlinkSync(join(base, name));
  } catch {
    return undefined;
  }
};

/** What the daemon writes when it switches to a new release: JSON.stringify(obj, null, 2). */
function writeTrial(base: string, t: Partial<Trial> & Pick<Trial, 'release' | 'previous'>): Trial {
  const trial: Trial = { boots: 0, maxBoots: 3, since: 1764640000000, from: '1.0.0', to: '1.1.0', ...t };
  writeFileSync(join(base, 'boot', 'trial.json'), `${JSON.stringify(trial, null, 2)}\n`);
  return trial;
}

const trialFile = (base: string): string => join(base, 'boot', 'trial.json');
const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/** The usual update: a (old, good) is previous, `id` is current and on trial. */
function updated(mode: Mode, maxBoots = 3): { base: string; state: string } {
  const b = makeBase();
  layRelease(b.base, 'a', 'good', '1.0.0');
  layRelease(b.base, 'b', mode, '1.1.0');
  link(b.base, 'previous', 'a');
  link(b.base, 'current', 'b');
  writeTrial(b.base, { release: 'b', previous: 'a', maxBoots });
  return b;
}

function guard(base: string, ...extra: string[]): SpawnSyncReturns<string> {
  return spawnSync(SHELL, [BOOT_GUARD, '--base', base, ...extra], { encoding: 'utf8' });
}

function serve(base: string, state: string, opts: { startTimeoutMs?: number; restartSec?: number; maxStarts?: number; onReady?: (s: ServiceStart) => void } = {}): ServiceRunner {
  const r = runService({
    base,
    args: ['--data-dir', join(state, 'data')],
    env: { FAKE_STATE: state },
    startTimeoutMs: opts.startTimeoutMs ?? 10_000,
    // The fakes' READY=1: a file named after the start's pid (the lead's daemons answer `status`).
    readyCheck: (s) => s.pid !== undefined && existsSync(join(state, `ready-${s.pid}`)),
    restartSec: opts.restartSec ?? 50,
    maxStarts: opts.maxStarts ?? 20,
    shell: SHELL,
    ...(opts.onReady ? { onReady: opts.onReady } : {}),
  });
  runners.push(r);
  return r;
}

const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** After a rollback from b to a: every trace the contract asks for. */
function expectRolledBack(base: string, starts: number): void {
  expect(readlinkSync(join(base, 'current'))).toBe('releases/a');
  expect(existsSync(trialFile(base))).toBe(false);
  const reason = `${starts} starts without a healthy trial`;
  expect(readFileSync(join(base, 'releases', 'b', '.failed'), 'utf8').trim()).toBe(reason);
  const out = readJson(join(base, 'boot', 'outcome.json'));
  expect(out).toMatchObject({ outcome: 'rolled-back', from: '1.1.0', to: '1.0.0', release: 'a', reason });
  expect(typeof out.ts === 'number' && Math.abs(out.ts - Date.now()) < 600_000).toBe(true);
}

const figures: Record<string, unknown> = {};
afterAll(() => console.log(`[figures] update-boot ${JSON.stringify(figures)}`));

describe('rollback at boot through the service runner (systemd stand-in)', () => {
  it('a release that exits at start: 3 starts, then the guard switches back and the old release runs (RestartSec=2s as the unit)', async () => {
    const { base, state } = updated('exit');
    const r = serve(base, state, { restartSec: 2_000 });
    const back = await r.waitForStart((s) => s.release === 'a' && s.readyAt !== undefined, 'the old release ready again', 20_000);
    expect(r.starts.map((s) => s.release)).toEqual(['b', 'b', 'b', 'a']);
    expect(r.starts.slice(0, 3).map((s) => s.exit?.code)).toEqual([1, 1, 1]);
    expect(r.starts.slice(0, 3).map((s) => s.guard.stderr.trim())).toEqual([1, 2, 3].map((n) => `camd-boot-guard: release b on trial: start ${n} of 3`));
    expect(back.guard.stderr).toContain('rolled back: release b had 3 starts without a healthy trial; current -> a');
    expectRolledBack(base, 3);
    figures.exitAtStartToOldReadyMs = Math.round(back.readyAt! - r.starts[0]!.spawnedAt);
    figures.exitAtStartRestartSec = 2;
    // The old release is no longer on trial: it keeps running, no more starts.
    await pause(300);
    expect(r.starts).toHaveLength(4);
    expect(alive(back.pid)).toBe(true);
  });

  it('a release that hangs before ready: each start is killed at the start timeout (a failed start), then rolled back', async () => {
    const { base, state } = updated('hang');
    const r = serve(base, state, { startTimeoutMs: 700 });
    const back = await r.waitForStart((s) => s.release === 'a' && s.readyAt !== undefined, 'the old release ready again', 20_000);
    const hung = r.starts.slice(0, 3);
    expect(hung.map((s) => [s.release, s.exit?.timedOut, s.exit?.signal])).toEqual(Array(3).fill(['b', true, 'SIGKILL']));
    // Killed whole: no sleep of a hung start is left behind.
    for (const s of hung) expect(alive(s.pid)).toBe(false);
    expect(back.n).toBe(4);
    expectRolledBack(base, 3);
    figures.hangToOldReadyMs = Math.round(back.readyAt! - r.starts[0]!.spawnedAt);
    figures.hangStartTimeoutMs = 700;
  });

  it('a release that is healthy, then crash-loops within the trial: rolled back all the same', async () => {
    const { base, state } = updated('crash-after-ready');
    const r = serve(base, state);
    const back = await r.waitForStart((s) => s.release === 'a' && s.readyAt !== undefined, 'the old release ready again', 20_000);
    // Each trial start was READY (what a deploy script's health window would have accepted).
    expect(r.starts.slice(0, 3).map((s) => [s.release, s.readyAt !== undefined, s.exit?.code])).toEqual(Array(3).fill(['b', true, 1]));
    expect(back.n).toBe(4);
    expectRolledBack(base, 3);
    figures.crashLoopToOldReadyMs = Math.round(back.readyAt! - r.starts[0]!.spawnedAt);
  });

  it.each([
    ['not-executable', 'bin/camd is not executable (203/EXEC)'],
    ['no-runtime', 'its Node runtime is missing: none of its own code runs'],
  ] as const)('a release that cannot run at all (%s: %s) is rolled back', async (mode, _why) => {
    const { base, state } = updated(mode, 2);
    const r = serve(base, state);
    const back = await r.waitForStart((s) => s.release === 'a' && s.readyAt !== undefined, 'the old release ready again', 20_000);
    const failed = r.starts.slice(0, 2);
    if (mode === 'not-executable') expect(failed.map((s) => s.exit?.execError)).toEqual(['EACCES', 'EACCES']);
    else expect(failed.map((s) => s.exit?.code)).toEqual([127, 127]);
    expect(back.n).toBe(3);
    expectRolledBack(base, 2);
  });

  it('a committed trial (the daemon removed trial.json once healthy): later crashes are restarts, never a rollback', async () => {
    const { base, state } = updated('crash-on-demand');
    let committed = false;
    const r = serve(base, state, {
      maxStarts: 6,
      onReady: (s) => {
        if (s.release !== 'b' || committed) return;
        // What the daemon does after trialSeconds of health.
        unlinkSync(trialFile(base));
        writeFileSync(join(base, 'boot', 'outcome.json'), `${JSON.stringify({ outcome: 'updated', from: '1.0.0', to: '1.1.0', release: 'b', ts: Date.now() }, null, 2)}\n`);
        committed = true;
        writeFileSync(join(state, 'crash'), '');
      },
    });
    await r.done;
    expect(r.starts.map((s) => s.release)).toEqual(Array(6).fill('b'));
    expect(r.exits().map((e) => e.code)).toEqual(Array(6).fill(1));
    expect(readlinkSync(join(base, 'current'))).toBe('releases/b');
    expect(existsSync(join(base, 'releases', 'b', '.failed'))).toBe(false);
    expect(readJson(join(base, 'boot', 'outcome.json')).outcome).toBe('updated');
    expect(r.starts.slice(1).every((s) => s.guard.stderr === '')).toBe(true);
  });

  it('a malformed trial.json never blocks the boot: set aside, the current release starts', async () => {
    const { base, state } = updated('good');
    writeFileSync(trialFile(base), '{\n  "release": "b",\n  "previous": "a",\n  "boo');
    const r = serve(base, state);
    const s = await r.waitForStart((x) => x.readyAt !== undefined, 'a start ready', 10_000);
    expect([s.n, s.release]).toEqual([1, 'b']);
    expect(s.guard.stderr).toMatch(/^camd-boot-guard: malformed .*trial\.json \(last line is not "}" \(truncated\?\)\): set aside/);
    expect(existsSync(trialFile(base))).toBe(false);
    expect(readFileSync(`${trialFile(base)}.malformed`, 'utf8')).toContain('"boo');
  });
});

describe('the service runner itself', () => {
  /** A control socket that answers `status` with `lifecycle`, or accepts and never answers. */
  function fakeControl(path: string, lifecycle: string | undefined): Server {
    const srv = createServer((c) => {
      c.setEncoding('utf8');
      c.on('data', (line: string) => {
        if (lifecycle === undefined) return; // hung
        const { id } = JSON.parse(line.trim()) as { id: number };
        c.write(`${JSON.stringify({ id, ok: true, result: { lifecycle } })}\n`);
      });
    });
    srv.listen(path);
    servers.push(srv);
    return srv;
  }
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('daemonRunning: true only for lifecycle "running"; false for no socket, another lifecycle, or no answer', async () => {
    const { state } = makeBase();
    const sock = (n: string): string => join(state, `${n}.sock`);
    fakeControl(sock('running'), 'running');
    fakeControl(sock('starting'), 'starting');
    fakeControl(sock('hung'), undefined);
    await waitUntil(() => ['running', 'starting', 'hung'].every((n) => existsSync(sock(n))), 'the sockets');
    expect(await daemonRunning(sock('running'))).toBe(true);
    expect(await daemonRunning(sock('starting'))).toBe(false);
    expect(await daemonRunning(sock('none'))).toBe(false);
    const t0 = performance.now();
    expect(await daemonRunning(sock('hung'), 300)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('the start timeout holds even when the ready check itself never answers', async () => {
    const { base, state } = updated('good');
    const r = runService({ base, env: { FAKE_STATE: state }, startTimeoutMs: 500, readyCheck: () => new Promise<boolean>(() => undefined), maxStarts: 1, shell: SHELL });
    runners.push(r);
    await r.done;
    expect(r.starts[0]!.exit).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(r.starts[0]!.readyAt).toBeUndefined();
  });

  it('stop(): SIGTERM to the running start, no restart after it', async () => {
    const { base, state } = updated('good');
    const r = serve(base, state);
    const s = await r.waitForStart((x) => x.readyAt !== undefined, 'ready');
    await r.stop();
    expect(s.exit).toMatchObject({ signal: 'SIGTERM', timedOut: false });
    expect(r.starts).toHaveLength(1);
    expect(r.current()).toBeUndefined();
  });
});

describe('camd-boot-guard (under ' + SHELL + ')', () => {
  it('is plain POSIX sh: dash parses it, and it runs nothing of any release', () => {
    expect(spawnSync(SHELL, ['-n', BOOT_GUARD]).status).toBe(0);
    // dash -n does not see bashisms that are only errors when they run.
    expect(readFileSync(BOOT_GUARD, 'utf8')).not.toMatch(/\[\[|\bfunction\b|\blocal\b|<<<|\$\{[^}]*\/\//);
    const { base, state } = updated('exit', 1);
    // A bin/camd that would leave a mark if anything ran it.
    writeFileSync(join(base, 'releases', 'b', 'bin', 'camd'), `#!/bin/sh\ntouch "${state}/ran"\n`);
    expect(guard(base).status).toBe(0);
    expect(guard(base).status).toBe(0); // the rollback
    expect(existsSync(join(state, 'ran'))).toBe(false);
    expect(linked(base, 'current')).toBe('releases/a');
  });

  it('without a trial: silent, nothing changes', () => {
    const { base } = updated('good');
    rmSync(trialFile(base));
    const r = guard(base);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(linked(base, 'current')).toBe('releases/b');
    expect(readdirSync(join(base, 'boot'))).toEqual([]);
  });

  it('counts a start by rewriting only "boots", keeping every other byte (keys it does not know too)', () => {
    const { base } = updated('good');
    writeTrial(base, { release: 'b', previous: 'a', cloudWasConnected: true });
    const before = readFileSync(trialFile(base), 'utf8');
    expect(guard(base).stderr).toBe('camd-boot-guard: release b on trial: start 1 of 3\n');
    expect(guard(base).status).toBe(0);
    expect(readFileSync(trialFile(base), 'utf8')).toBe(before.replace('"boots": 0', '"boots": 2'));
    expect(readJson(trialFile(base))).toMatchObject({ boots: 2, cloudWasConnected: true, since: 1764640000000 });
    expect(readdirSync(join(base, 'boot'))).toEqual(['trial.json']); // no temp file left
  });

  it('rolls back when boots would exceed maxBoots: .failed, outcome.json, current -> previous, trial.json gone', () => {
    const { base } = updated('exit');
    writeTrial(base, { release: 'b', previous: 'a', boots: 3 });
    const r = guard(base);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('camd-boot-guard: rolled back: release b had 3 starts without a healthy trial; current -> a\n');
    expectRolledBack(base, 3);
    expect(readFileSync(join(base, 'boot', 'outcome.json'), 'utf8')).toMatch(/^\{\n {2}"outcome": "rolled-back",\n/);
    expect(readdirSync(base).sort()).toEqual(['boot', 'current', 'previous', 'releases']);
  });

  it('falls back to the `previous` link when the release trial.json names is gone', () => {
    const { base } = updated('exit');
    layRelease(base, 'z', 'good');
    link(base, 'previous', 'z');
    writeTrial(base, { release: 'b', previous: 'gone', boots: 3 });
    guard(base);
    expect(linked(base, 'current')).toBe('releases/z');
    expect(readJson(join(base, 'boot', 'outcome.json')).release).toBe('z');
  });

  it('with nothing to fall back to: logs it, keeps the trial, starts the release again', () => {
    const { base } = updated('exit');
    rmSync(join(base, 'previous'));
    writeTrial(base, { release: 'b', previous: 'gone', boots: 3 });
    const r = guard(base);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('no release to fall back to');
    expect(linked(base, 'current')).toBe('releases/b');
    expect(readJson(trialFile(base)).boots).toBe(3);
  });

  it('a trial for a release that is not current (switched by hand) is over: deleted, nothing else', () => {
    const { base } = updated('good');
    link(base, 'current', 'a');
    const r = guard(base);
    expect(r.stderr).toBe('camd-boot-guard: trial.json names release b but current is a: the trial is over; removed\n');
    expect(existsSync(trialFile(base))).toBe(false);
    expect(existsSync(join(base, 'boot', 'outcome.json'))).toBe(false);
    expect(linked(base, 'current')).toBe('releases/a');
  });

  it.each([
    ['empty', ''],
    ['truncated', '{\n  "release": "b",\n  "prev'],
    ['compact, one line', '{"release":"b","previous":"a","boots":0,"maxBoots":3}'],
    ['boots a string', '{\n  "release": "b",\n  "previous": "a",\n  "boots": "1",\n  "maxBoots": 3\n}\n'],
    ['boots with a leading zero', '{\n  "release": "b",\n  "previous": "a",\n  "boots": 01,\n  "maxBoots": 3\n}\n'],
    ['no previous', '{\n  "release": "b",\n  "boots": 0,\n  "maxBoots": 3\n}\n'],
    ['release twice', '{\n  "release": "b",\n  "release": "a",\n  "previous": "a",\n  "boots": 0,\n  "maxBoots": 3\n}\n'],
    ['nested object', '{\n  "release": "b",\n  "previous": "a",\n  "boots": 0,\n  "maxBoots": 3,\n  "x": {\n  }\n}\n'],
    ['release not an id', '{\n  "release": "../b",\n  "previous": "a",\n  "boots": 0,\n  "maxBoots": 3\n}\n'],
    ['comma after the last member', '{\n  "release": "b",\n  "previous": "a",\n  "boots": 0,\n  "maxBoots": 3,\n}\n'],
    ['binary garbage', '\u0000\u00ff{\n}'],
  ])('malformed trial.json (%s): set aside, current starts, exit 0', (_what, text) => {
    const { base } = updated('good');
    writeFileSync(trialFile(base), text);
    const r = guard(base);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^camd-boot-guard: malformed .*trial\.json \(.+\): set aside as trial\.json\.malformed; starting current \(b\) without a trial\n$/);
    expect(linked(base, 'current')).toBe('releases/b');
    expect(existsSync(trialFile(base))).toBe(false);
    expect(readFileSync(`${trialFile(base)}.malformed`, 'utf8')).toBe(text);
  });

  it('a dangling or missing `current` is pointed at `previous`; a trial on the vanished release becomes a rolled-back outcome', () => {
    const { base } = updated('good');
    rmSync(join(base, 'releases', 'b'), { recursive: true });
    const r = guard(base);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("current -> 'b' is missing; pointing current at the previous release a");
    expect(linked(base, 'current')).toBe('releases/a');
    expect(readJson(join(base, 'boot', 'outcome.json'))).toMatchObject({ outcome: 'rolled-back', release: 'a', reason: 'release b on trial is missing' });
    expect(existsSync(trialFile(base))).toBe(false);
    rmSync(join(base, 'current'));
    expect(guard(base).status).toBe(0);
    expect(linked(base, 'current')).toBe('releases/a');
  });

  it('exits non-zero only when there is nothing to start, or on bad usage', () => {
    const { base } = updated('good');
    for (const l of ['current', 'previous'] as const) rmSync(join(base, l));
    expect(guard(base).status).toBe(1);
    expect(guard(join(base, 'nope')).status).toBe(1);
    expect(spawnSync(SHELL, [BOOT_GUARD]).status).toBe(2);
    expect(spawnSync(SHELL, [BOOT_GUARD, '--base']).status).toBe(2);
    expect(guard(base, '--bogus').status).toBe(2);
  });

  it("clears the temp files of a run that was killed", () => {
    const { base } = updated('good');
    for (const f of ['boot/trial.json.tmp.123', 'boot/outcome.json.tmp.9']) writeFileSync(join(base, f), '{');
    symlinkSync('releases/a', join(base, '.current.guard-tmp.77'));
    guard(base);
    expect(readdirSync(join(base, 'boot'))).toEqual(['trial.json']);
    expect(existsSync(join(base, '.current.guard-tmp.77'))).toBe(false);
  });
});

describe('kill -9 of the guard at random points', () => {
  it('leaves current at a complete release, trial.json parsing or absent, and a rollback always with its outcome', async () => {
    const { base } = makeBase();
    layRelease(base, 'a', 'good', '1.0.0');
    layRelease(base, 'b', 'exit', '1.1.0');
    link(base, 'previous', 'a');
    // The guard's own duration here, so the kills land everywhere in it.
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) {
      link(base, 'current', 'b');
      writeTrial(base, { release: 'b', previous: 'a', boots: i % 4 });
      guard(base);
    }
    const runMs = (performance.now() - t0) / 5;
    const rng = mulberry32(Number(process.env.CAMD_FAULT_SEED) || 1313);
    const seen = { completed: 0, killedInARollbackRun: 0, untouched: 0, counted: 0, rollbackHalfDone: 0, rolledBack: 0 };
    const ROUNDS = 60;
    let trialBoots = -1;

    const check = (when: string): void => {
      const cur = linked(base, 'current');
      expect(cur, when).toMatch(/^releases\/[ab]$/);
      const rel = join(base, cur!);
      expect(existsSync(join(rel, 'bin', 'camd')) && existsSync(join(rel, 'release.json')), when).toBe(true);
      if (existsSync(trialFile(base))) {
        const t = readJson(trialFile(base));
        expect(t, when).toMatchObject({ release: 'b', previous: 'a', maxBoots: 3 });
        expect([trialBoots, trialBoots + 1], when).toContain(t.boots);
      }
      // current switched back => the outcome was written first.
      if (cur === 'releases/a') expect(readJson(join(base, 'boot', 'outcome.json')), when).toMatchObject({ outcome: 'rolled-back', release: 'a' });
    };

    for (let round = 0; round < ROUNDS; round++) {
      if (!existsSync(trialFile(base))) {
        // A new update to b: half of them already at their last start, so the kill hits rollbacks too.
        rmSync(join(base, 'boot', 'outcome.json'), { force: true });
        rmSync(join(base, 'releases', 'b', '.failed'), { force: true });
        link(base, 'current', 'b');
        writeTrial(base, { release: 'b', previous: 'a', boots: rng() < 0.5 ? 3 : Math.floor(rng() * 3) });
      }
      trialBoots = readJson(trialFile(base)).boots as number;
      const group = rng() < 0.5; // the whole group (systemd's timeout, a power cut) or the shell alone
      const p = spawn(SHELL, [BOOT_GUARD, '--base', base], { stdio: 'ignore', detached: true });
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      await pause(rng() * runMs * 1.2);
      if (p.exitCode === null) {
        try {
          process.kill(group ? -p.pid! : p.pid!, 'SIGKILL');
        } catch {
          // It finished meanwhile.
        }
      }
      const code = await exited;
      if (code === 0) seen.completed++;
      else if (trialBoots === 3) seen.killedInARollbackRun++;
      // A killed shell's children (sed, sync, mv) finish on their own; give them a moment.
      await pause(30);
      check(`round ${round}, after the kill`);
      const t = existsSync(trialFile(base)) ? readJson(trialFile(base)) : undefined;
      const cur = linked(base, 'current');
      if (cur === 'releases/a') seen[t ? 'rollbackHalfDone' : 'rolledBack']++;
      else if (t && t.boots === trialBoots) seen.untouched++;
      else if (t) seen.counted++;
      // The next start's guard, undisturbed: a consistent state again.
      trialBoots = (t?.boots as number | undefined) ?? -1;
      expect(guard(base).status).toBe(0);
      check(`round ${round}, after the next run`);
      if (existsSync(trialFile(base))) expect(linked(base, 'current')).toBe('releases/b');
      expect(readdirSync(join(base, 'boot')).filter((f) => f.includes('.tmp.'))).toEqual([]);
      expect(readdirSync(base).filter((f) => f.includes('guard-tmp'))).toEqual([]);
    }
    figures.kill9 = { rounds: ROUNDS, guardRunMs: Math.round(runMs), ...seen };
    // Kills landed inside counting runs and inside rollbacks, not only after the guard was done.
    expect(seen.killedInARollbackRun).toBeGreaterThan(0);
    expect(seen.untouched + seen.counted).toBeGreaterThan(0);
    expect(seen.completed).toBeLessThan(ROUNDS);
  });
});

/** Root and a private mount namespace: camd-setup-board's system paths become throwaway tmpfs. */
const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status === 0;

describe.skipIf(!canUnshare)('camd-setup-board (as root, system paths on tmpfs in a private mount namespace)', () => {
  it('installs the guard to <base>/bin, hands the tree to camd, and a camctl that drops root to camd', () => {
    const root = mkdtempSync(join(tmpdir(), 'camd-setup-'));
    dirs.push(root);
    const rel = join(root, 'base', 'releases', '1.0.0');
    const base = join(root, 'base');
    mkdirSync(join(rel, 'bin'), { recursive: true });
    mkdirSync(join(rel, 'systemd'));
    for (const f of ['camd-setup-board', 'camd-boot-guard', 'camd']) copyFileSync(join(REPO, 'scripts/release/board', f), join(rel, 'bin', f));
    for (const f of readdirSync(join(REPO, 'scripts/systemd'))) copyFileSync(join(REPO, 'scripts/systemd', f), join(rel, 'systemd', f));
    symlinkSync('releases/1.0.0', join(base, 'current'));
    // A user camd for `id`/chown, only inside the namespace (bind-mounted passwd/group copies).
    writeFileSync(join(root, 'passwd'), `${readFileSync('/etc/passwd', 'utf8')}camd:x:4242:4242:camd:/var/lib/camd:/usr/sbin/nologin\n`);
    writeFileSync(join(root, 'group'), `${readFileSync('/etc/group', 'utf8')}camd:x:4242:\n`);
    const script = [
      'set -e',
      'for d in /usr/lib/sysusers.d /etc/udev /etc/polkit-1 /etc/default /usr/local/bin; do mkdir -p $d; mount -t tmpfs tmpfs $d; done',
      `mount --bind ${root}/passwd /etc/passwd`,
      `mount --bind ${root}/group /etc/group`,
      // What earlier versions installed: a link into the release tree (must be replaced, not followed).
      `ln -s ${base}/current/bin/camctl /usr/local/bin/camctl`,
      `sh ${rel}/bin/camd-setup-board --base ${base} --no-systemd`,
      `stat -c '%u %a %F' /usr/local/bin/camctl > ${root}/camctl.stat`,
      `cp /usr/local/bin/camctl ${root}/camctl.copy`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(base, 'bin', 'camd-boot-guard'), 'utf8')).toBe(readFileSync(BOOT_GUARD, 'utf8'));
    expect(statSync(join(base, 'bin', 'camd-boot-guard')).mode & 0o777).toBe(0o755);
    for (const d of ['.', 'bin', 'boot', 'downloads', 'releases', 'releases/1.0.0', 'releases/1.0.0/bin/camd']) expect(statSync(join(base, d)).uid, d).toBe(4242);
    // Root-owned, a regular file now (not the old link), and it becomes camd before running release code.
    expect(readFileSync(join(root, 'camctl.stat'), 'utf8').trim()).toBe('0 755 regular file');
    expect(readFileSync(join(root, 'camctl.copy'), 'utf8')).toContain(`exec setpriv --reuid=camd --regid=camd --init-groups -- "${base}/current/bin/camctl" "$@"`);
    // The release tree itself is untouched: the link into it still points where it did.
    expect(readlinkSync(join(base, 'current'))).toBe('releases/1.0.0');
    expect(readdirSync(base).filter((f) => f.includes('tmp'))).toEqual([]);
  });
});
