import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPO } from '../harness/boot.js';
import { startDaemon, waitFor, type DaemonProc } from '../harness/daemon.js';
import { PROCESS_TIMEOUTS, patience } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/** The real daemon as a separate process, driven with the real camctl over the real socket. */
function camctl(d: DaemonProc, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/camctl.ts'), '--socket', d.socket, ...args], { cwd: REPO, timeout: patience(20_000) }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Send raw bytes on the control socket and collect the reply lines. */
function raw(socket: string, text: string, lines = 1): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      const got = buf.split('\n').filter(Boolean);
      if (got.length >= lines) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(text);
  });
}

describe('camd as a process', () => {
  let d: DaemonProc;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    rmSync(d.dir, { recursive: true, force: true });
  });

  it('camctl status shows the LED and why, outputs, reset button and services', async () => {
    const r = await camctl(d, 'status');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/camd on sim \(sim\) — running/);
    expect(r.stdout).toMatch(/LED\s+blue slow\s+= working/);
    expect(r.stdout).toMatch(/resetButton/);
    expect(r.stdout).toMatch(/indicator\s+running/);
    const j = await camctl(d, 'status', '--json');
    const body = JSON.parse(j.stdout) as { ok: boolean; result: { led: { state: string }; outputs: Record<string, unknown> } };
    expect(body.ok).toBe(true);
    expect(body.result.led.state).toBe('working');
    expect(Object.keys(body.result.outputs)).toEqual(expect.arrayContaining(['strobeRed', 'strobeBlue', 'siren', 'spotlight']));
  });

  it('the control socket is 0600 in a 0700 directory; the data dir is 0700', () => {
    expect(statSync(d.socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(d.dir, 'run')).mode & 0o777).toBe(0o700);
    expect(statSync(join(d.dir, 'data')).mode & 0o777).toBe(0o700);
  });

  it('camctl set and config get/set, with precise validation errors', async () => {
    expect((await camctl(d, 'set', 'siren', 'on')).code).toBe(0);
    const st = JSON.parse((await camctl(d, 'status', '--json')).stdout) as { result: { outputs: { siren: unknown } } };
    expect(st.result.outputs.siren).toBe(true);
    expect((await camctl(d, 'set', 'siren', 'off')).code).toBe(0);
    const bad = await camctl(d, 'config', 'set', 'detection.human.sensitivity', '140');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid_args: detection\.human\.sensitivity: .*100/);
    const unknown = await camctl(d, 'config', 'set', 'detection.human.sensitivty', '40');
    expect(unknown.stderr).toMatch(/detection\.human\.sensitivty: unknown key/);
    expect((await camctl(d, 'config', 'set', 'detection.human.sensitivity', '40')).code).toBe(0);
    expect((await camctl(d, 'config', 'get', 'detection.human.sensitivity')).stdout.trim()).toBe('40');
    const bogusOutput = await camctl(d, 'set', 'laser', 'on');
    expect(bogusOutput.code).toBe(1);
    expect(bogusOutput.stderr).toMatch(/output/);
  });

  it('malformed socket input gets precise errors and the daemon stays up', async () => {
    expect(JSON.parse((await raw(d.socket, 'this is not json\n'))[0]!)).toMatchObject({ ok: false, error: { code: 'malformed' } });
    expect(JSON.parse((await raw(d.socket, '{"id":7,"nope":1}\n'))[0]!)).toMatchObject({ id: 7, ok: false, error: { code: 'malformed' } });
    expect(JSON.parse((await raw(d.socket, '{"id":8,"cmd":"fly"}\n'))[0]!)).toMatchObject({ id: 8, ok: false, error: { code: 'unknown_command' } });
    expect(JSON.parse((await raw(d.socket, `{"id":9,"cmd":"status","args":{"x":"${'a'.repeat(70_000)}"}}\n`))[0]!)).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect((await d.call('status')).ok).toBe(true);
  });

  it('camctl logs shows structured lines with a component on every line', async () => {
    const r = await camctl(d, 'logs', '-n', '200', '--json');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { component?: string });
    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) expect(typeof l.component).toBe('string');
  });

  it('SIGTERM: clean stop, exit 0, socket removed', async () => {
    d.proc.kill('SIGTERM');
    const { code } = await d.exited;
    expect(code).toBe(0);
    expect(d.output()).toMatch(/"msg":"stopped"/);
  });
});

describe('refusing to start', () => {
  it('a bad board file names the file, the path and the problem, exit 78', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-board-'));
    const board = JSON.parse(readFileSync(join(REPO, 'board/sim.json'), 'utf8')) as { ptz: { widePanAddress: number; ptzAddress: number } };
    board.ptz.widePanAddress = board.ptz.ptzAddress;
    const file = join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify(board));
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, ['--import', 'tsx', join(REPO, 'src/main.ts'), '--board', file, '--data-dir', join(dir, 'd'), '--run-dir', join(dir, 'r')], { cwd: REPO }, (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('ptz.widePanAddress');
    expect(r.stderr).toMatch(/must differ/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('crash safety of the config', () => {
  it('kill -9 right after a config change: the change is on disk whole', async () => {
    const d = await startDaemon();
    try {
      expect((await d.call('config.set', { patch: { device: { name: 'Shed' } } })).ok).toBe(true);
      d.proc.kill('SIGKILL');
      await d.exited;
      const cfg = JSON.parse(readFileSync(join(d.dir, 'data', 'config.json'), 'utf8')) as { device: { name: string } };
      expect(cfg.device.name).toBe('Shed');
      const again = await startDaemon({ dir: d.dir });
      try {
        const r = await again.call('config.get', { path: 'device.name' });
        expect(r).toMatchObject({ ok: true, result: 'Shed' });
        await waitFor(async () => (await again.call('status')).ok);
      } finally {
        again.proc.kill('SIGTERM');
        await again.exited;
      }
    } finally {
      rmSync(d.dir, { recursive: true, force: true });
    }
  });
});
