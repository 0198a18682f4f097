import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { CamdError } from '../../../src/core/errors.js';
import { silentLogging } from '../../../src/core/log.js';
import { initialState, StateStore } from '../../../src/state/store.js';
import { ChildRunner, OnceRunner, STDERR_LINES } from '../../../src/supervisor/runner.js';

const logging = silentLogging();

function until(check: () => boolean): Promise<void> {
  // Waits on real child-process I/O: bounded by the test timeout.
  return vi.waitUntil(check, { timeout: 10_000, interval: 10 }).then(() => undefined);
}

/** Gone, or a zombie nobody reaped yet (a container's PID 1 may not reap): either way not running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The first stdout line of a `pipe` child (a pid the script printed). */
function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => createInterface({ input: stream }).once('line', resolve));
}

describe('OnceRunner (the run-once mode of the process runner)', () => {
  let state: StateStore;
  let runner: OnceRunner;
  const leftovers: number[] = [];
  beforeEach(() => {
    state = new StateStore(initialState(1, 'x', 0));
    runner = new OnceRunner({ clock: systemClock, log: logging.forComponent('test'), state });
  });
  afterEach(async () => {
    await runner.stopAll();
    for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('runs a child to its end: exit code, captured stdout, stderr lines (also to the log)', async () => {
    const res = await runner.run({ name: 'hello', command: 'sh', args: ['-c', 'echo hello; echo world; echo careful >&2'] });
    expect(res).toMatchObject({ name: 'hello', command: 'sh', code: 0, signal: null, stdout: 'hello\nworld\n', stderr: ['careful'], timedOut: false, aborted: false, truncated: false });
    expect(res.error).toBeUndefined();
    expect(logging.ring.recent().some((l) => l.stderr === 'careful' && l.child === 'hello')).toBe(true);
    expect(runner.size).toBe(0);
  });

  it('a non-zero exit rejects with the last stderr words, or with the program and its exit code', async () => {
    const res = await runner.start({ name: 'enc', command: 'sh', args: ['-c', 'echo one >&2; echo two >&2; echo three >&2; exit 3'] }).done;
    expect(res).toMatchObject({ code: 3, stderr: ['one', 'two', 'three'] });
    await expect(runner.run({ name: 'enc', command: 'sh', args: ['-c', 'echo one >&2; echo last words >&2; exit 3'] })).rejects.toThrow(
      new CamdError('failed', 'enc failed: one / last words'),
    );
    await expect(runner.run({ name: 'enc', command: 'sh', args: ['-c', 'exit 4'] })).rejects.toThrow('enc failed: sh exited with code 4');
  });

  it('kills a child at its timeout; one that ignores SIGTERM gets SIGKILL after the grace', async () => {
    await expect(runner.run({ name: 'slow', command: 'sleep', args: ['30'], timeoutMs: 200 })).rejects.toThrow('slow failed: sleep timed out after 200 ms');
    const t0 = Date.now();
    const res = await runner.start({ name: 'stubborn', command: 'sh', args: ['-c', 'trap "" TERM; sleep 30; exit 0'], timeoutMs: 200, killTimeoutMs: 300 }).done;
    expect(res).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('an abort stops the child and what it started (its process group)', async () => {
    const ac = new AbortController();
    const p = runner.start({ name: 'tree', command: 'sh', args: ['-c', 'sleep 30 & echo $!; wait'], stdout: 'pipe', signal: ac.signal });
    const grandchild = Number(await firstLine(p.child.stdout!));
    leftovers.push(grandchild);
    expect(alive(grandchild)).toBe(true);
    const t0 = Date.now();
    ac.abort();
    const res = await p.done;
    expect(res.aborted).toBe(true);
    await until(() => !alive(grandchild));
    expect(Date.now() - t0).toBeLessThan(5_000);
    await expect(runner.run({ name: 'late', command: 'sleep', args: ['30'], signal: AbortSignal.abort() })).rejects.toThrow('late failed: sleep was stopped before it finished');
  });

  it('stop() kills the group too, and nothing a one-shot started outlives it when it exits on its own', async () => {
    const p = runner.start({ name: 'tree', command: 'sh', args: ['-c', 'sleep 30 & echo $!; wait'], stdout: 'pipe' });
    const grandchild = Number(await firstLine(p.child.stdout!));
    leftovers.push(grandchild);
    const t0 = Date.now();
    await p.stop();
    await until(() => !alive(grandchild));
    expect(Date.now() - t0).toBeLessThan(5_000);

    // The shell exits at once; its background sleep would otherwise hold the pipes (and `done`) for 30 s.
    const t1 = Date.now();
    const res = await runner.run({ name: 'quitter', command: 'sh', args: ['-c', 'sleep 30 & echo $!'] });
    const orphan = Number(res.stdout.trim());
    leftovers.push(orphan);
    expect(Date.now() - t1).toBeLessThan(5_000);
    await until(() => !alive(orphan));
  });

  it('a missing program is a clear error naming it, and never listed as running', async () => {
    const res = await runner.start({ name: 'format-card', command: 'camd-no-such-program', args: [] }).done;
    expect(res.error).toBe('cannot run camd-no-such-program: no such program (ENOENT)');
    await expect(runner.run({ name: 'format-card', command: 'camd-no-such-program', args: ['x'] })).rejects.toThrow(
      'format-card failed: cannot run camd-no-such-program: no such program (ENOENT)',
    );
    expect(state.get().children).toEqual({});
  });

  it('bounds what it keeps: stdout cut at maxOutputBytes, the stderr tail to its last lines, a newline-less flood cut', async () => {
    const res = await runner.run({ name: 'flood', command: 'sh', args: ['-c', 'head -c 200000 /dev/zero | tr "\\0" a; seq 1 100 >&2'], maxOutputBytes: 1000 });
    expect(res.stdout).toBe('a'.repeat(1000));
    expect(res.truncated).toBe(true);
    expect(res.stderr).toEqual(Array.from({ length: STDERR_LINES }, (_, i) => String(101 - STDERR_LINES + i)));
    const flood = await runner.run({ name: 'flood', command: 'sh', args: ['-c', 'echo first >&2; head -c 100000 /dev/zero | tr "\\0" b >&2'], maxOutputBytes: 1000 });
    // The tail stays within the bound: the cut flood line is kept, the older line gave way to it.
    expect(flood.stderr).toEqual(['b'.repeat(1000)]);
    expect(flood).toMatchObject({ stdout: '', truncated: true });
  });

  it('is listed in state.children while it runs (kind once, pid, since) and leaves when it ends', async () => {
    const before = Date.now();
    const a = runner.start({ name: 'stitch', command: 'sleep', args: ['30'] });
    const b = runner.start({ name: 'stitch', command: 'sleep', args: ['30'] });
    expect(runner.size).toBe(2);
    const children = state.get().children;
    expect(Object.keys(children).sort()).toEqual([`stitch#${a.pid}`, `stitch#${b.pid}`].sort());
    expect(children[`stitch#${a.pid}`]).toEqual({ name: 'stitch', kind: 'once', status: 'running', pid: a.pid, since: expect.any(Number), restarts: 0 });
    expect(children[`stitch#${a.pid}`]!.since).toBeGreaterThanOrEqual(before);
    await a.stop();
    expect(Object.keys(state.get().children)).toEqual([`stitch#${b.pid}`]);
    await runner.stopAll();
    expect(state.get().children).toEqual({});
    expect(runner.size).toBe(0);
    expect(a.pid).toBeUndefined();
  });

  it('supervised children carry kind and the start of the running process too', async () => {
    const sup = new ChildRunner({ name: 'cap', command: 'sleep', args: ['30'] }, { clock: systemClock, log: logging.forComponent('child:cap'), state });
    sup.start();
    expect(state.get().children.cap).toMatchObject({ name: 'cap', kind: 'supervised', status: 'running', pid: sup.pid, since: expect.any(Number) });
    await sup.stop();
    expect(state.get().children.cap).toEqual({ name: 'cap', kind: 'supervised', status: 'stopped', restarts: 0 });
  });
});
