import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { REPO } from '../harness/boot.js';
import { startDaemon, waitFor, type DaemonProc } from '../harness/daemon.js';
import { PROCESS_TIMEOUTS, patience } from '../harness/wait.js';

// Real processes (two daemons in turn, camctl children): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

const CAMCTL = [process.execPath, '--import', 'tsx', join(REPO, 'src/cli/camctl.ts')];

function camctl(socket: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(CAMCTL[0]!, [...CAMCTL.slice(1), '--socket', socket, ...args], { cwd: REPO, timeout: patience(20_000) }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A following camctl as a child: its output so far, and its exit. */
function follower(socket: string, ...args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(CAMCTL[0]!, [...CAMCTL.slice(1), '--socket', socket, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

describe('camctl follows across a daemon restart', () => {
  const daemons: DaemonProc[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    if (daemons[0]) rmSync(daemons[0].dir, { recursive: true, force: true });
  });

  it('events -f and logs -f say the daemon went away, reconnect, go on, and end on Ctrl-C with 0', async () => {
    const first = await startDaemon();
    daemons.push(first);
    const events = follower(first.socket, 'events', '-f');
    const logs = follower(first.socket, 'logs', '-f', '-n', '20');
    children.push(events.child, logs.child);
    // Following: a button event before the restart shows as one readable line.
    await waitFor(() => /^\d\d:\d\d:\d\d\.\d{3} UTC (INFO |WARN |ERROR|DEBUG) \[[\w.-]+\] /m.test(logs.out()), 20_000);
    await waitFor(async () => {
      await first.call('sim.press', { button: 'reset', ms: 300 });
      return /^\d\d:\d\d:\d\d\.\d{3} -\s+reset\.short-press\s+heldMs=\d+/m.test(events.out());
    }, 20_000, 1000);
    const before = events.out().length;
    const beforeRestart = logs.out().split('\n').filter((l) => l.includes('control socket listening')).length;

    first.proc.kill('SIGKILL');
    await first.exited;
    await waitFor(() => events.err().includes('camctl: daemon went away — reconnecting…') && logs.err().includes('camctl: daemon went away — reconnecting…'), 20_000);
    const second = await startDaemon({ dir: first.dir });
    daemons.push(second);
    await waitFor(() => events.err().includes('camctl: reconnected') && logs.err().includes('camctl: reconnected'), 60_000);
    expect(events.child.exitCode).toBeNull();

    // Events of the new daemon arrive on the same camctl.
    await waitFor(async () => {
      await second.call('sim.press', { button: 'reset', ms: 300 });
      return events.out().slice(before).includes('reset.short-press');
    }, 20_000, 1000);
    // The new daemon's boot is in the log (its backlog after the reconnect), and nothing is printed twice.
    await waitFor(() => logs.out().split('\n').filter((l) => l.includes('control socket listening')).length > beforeRestart, 20_000);
    const lines = logs.out().split('\n').filter(Boolean);
    expect(lines.length - new Set(lines).size).toBe(0);
    // No colour codes into a pipe.
    expect(events.out()).not.toContain('\u001b[');

    events.child.kill('SIGINT');
    logs.child.kill('SIGINT');
    expect(await events.exit).toBe(0);
    expect(await logs.exit).toBe(0);
  });

  it('--json status keeps its shape; argument errors name the flag and exit 2', async () => {
    const d = daemons.at(-1)!;
    const j = await camctl(d.socket, '--json', 'status');
    expect(j.code).toBe(0);
    expect(j.stdout.endsWith('}\n') && j.stdout.split('\n').length === 2).toBe(true);
    const body = JSON.parse(j.stdout) as Record<string, unknown> & { result: Record<string, unknown> };
    expect(Object.keys(body)).toEqual(['id', 'ok', 'result']);
    const fixture = JSON.parse(readFileSync(join(REPO, 'test/fixtures/camctl/status.json'), 'utf8')) as { result: Record<string, unknown> };
    expect(Object.keys(body.result)).toEqual(expect.arrayContaining(Object.keys(fixture.result)));

    const big = await camctl(d.socket, 'logs', '-n', '5000');
    expect(big).toMatchObject({ code: 2, stderr: expect.stringMatching(/^camctl: -n must be 1\.\.1000 \(got 5000\)\n/) });
    expect(big.stderr).not.toContain('backlog');
    const unknown = await camctl(d.socket, 'events', '--folow');
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringMatching(/^camctl: unknown option --folow for "camctl events"/) });
    const since = await camctl(d.socket, 'timeline', '--since', '10s', '--kind', 'gpio');
    expect(since.code).toBe(0);
    expect(since.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} UTC gpio /m);
  });

  it('factory-reset asks for --yes and changes nothing without it; with --yes it takes the token and resets', async () => {
    const d = await startDaemon();
    daemons.push(d);
    expect((await camctl(d.socket, 'config', 'set', 'device.name', 'Front door')).code).toBe(0);
    const no = await camctl(d.socket, 'factory-reset');
    expect(no.code).toBe(1);
    expect(no.stderr).toContain('Re-run with --yes');
    expect(await d.call('config.get', { path: 'device.name' })).toMatchObject({ ok: true, result: 'Front door' });

    const yes = await camctl(d.socket, 'factory-reset', '--yes');
    expect(yes.code, yes.stderr).toBe(0);
    // The owner's settings are gone (the file is erased; defaults after the reboot).
    const config = join(d.dir, 'data', 'config.json');
    await waitFor(() => !existsSync(config) || !readFileSync(config, 'utf8').includes('Front door'), 20_000);
  });
});
