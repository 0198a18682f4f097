import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { isListening } from '../harness/listening.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import { rtspService } from '../../src/rtsp/service.js';
import { indicatorService } from '../../src/indicator/service.js';
import { ledPattern } from '../../src/indicator/policy.js';
import { smallBoard, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { freePort } from '../unit/capture/receiver-fixture.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes: the daemon's capture ffmpeg, the GStreamer RTSP helper, ffmpeg/ffprobe as NVRs.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
const pulls: Pull[] = [];
afterEach(async () => {
  for (const p of pulls.splice(0)) p.kill();
  await booted?.dispose();
  booted = undefined;
  removeTestDirs();
});

async function boot(config: Record<string, unknown>) {
  const dir = testDir(config);
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, indicatorService, ...captureServices, rtspService] });
  const b = booted;
  await waitFor(() => b.sup.state.get().capture?.wide?.status === 'running' && b.sup.state.get().capture?.ptz?.status === 'running', 15_000);
  const exec = (cmd: string, args: Record<string, unknown>, source: 'cloud' | 'local') => b.sup.commands.execute(cmd, args, { source });
  return { b, dir, exec };
}

interface Pull {
  done: Promise<{ code: number | null; stderr: string; firstFrameMs: number | undefined }>;
  kill(): void;
  pid: number | undefined;
}

/** ffmpeg pulling as Frigate does (-rtsp_transport tcp, -c copy); frames counted from its progress output. */
function pull(url: string, out: string, frames: number, extra: string[] = []): Pull {
  const t0 = performance.now();
  let firstFrameMs: number | undefined;
  let stderr = '';
  const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-stats_period', '0.05', '-progress', 'pipe:1', ...extra, '-rtsp_transport', 'tcp', '-i', url, '-frames:v', String(frames), '-c', 'copy', '-y', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    const m = /frame=(\d+)/.exec(s);
    if (m && Number(m[1]) > 0 && firstFrameMs === undefined) firstFrameMs = performance.now() - t0;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => void (stderr += s));
  const done = new Promise<{ code: number | null; stderr: string; firstFrameMs: number | undefined }>((res) => child.once('close', (code) => res({ code, stderr, firstFrameMs })));
  const p = { done, kill: () => void child.kill('SIGKILL'), pid: child.pid };
  pulls.push(p);
  return p;
}

async function spawnTimed(extra: string[], url: string, out: string): Promise<{ firstFrameMs: number | undefined }> {
  const r = await pull(url, out, 10, extra).done;
  expect(r.code, r.stderr).toBe(0);
  return r;
}

function probe(file: string): { codec: string; frames: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', file]).toString();
  const s = (JSON.parse(out) as { streams: { codec_name: string; nb_read_frames: string }[] }).streams[0]!;
  return { codec: s.codec_name, frames: Number(s.nb_read_frames) };
}


/** user+system CPU ticks of a process (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

async function cpuPercent(pid: number, ms: number): Promise<number> {
  const a = cpuTicks(pid);
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((cpuTicks(pid) - a) * 10 * 100) / (performance.now() - t); // 100 ticks/s: 1 tick = 10 ms
}

describe('local RTSP stream (real gst-rtsp-server helper, real ffmpeg clients)', () => {
  it('a port it cannot listen on: says so in the state, no viewer, no wildcard fallback', async () => {
    const port = await freePort('tcp');
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
    try {
      const { b } = await boot({ rtsp: { enabled: true, bindAddress: '127.0.0.1', port } });
      await waitFor(() => /cannot listen on 127\.0\.0\.1/.test(b.sup.state.get().rtsp?.reason ?? ''), 15_000);
      expect(b.sup.state.get().rtsp?.status).not.toBe('running');
      expect(b.sup.state.get().liveViewers).toBe(0);
    } finally {
      squatter.close();
    }
  }, PROCESS_TEST_MS);


  it('is off by default: no listener, no helper; the cloud cannot switch it on', async () => {
    const { b, exec } = await boot({});
    expect(b.sup.config.get().rtsp).toMatchObject({ enabled: false, port: 8554, bindAddress: '' });
    expect(b.sup.state.get().rtsp).toMatchObject({ status: 'disabled' });
    expect(b.sup.state.get().children.rtsp).toBeUndefined();
    expect(isListening(8554, 'tcp')).toBe(false);
    const r = await exec('config.set', { patch: { rtsp: { enabled: true } } }, 'cloud');
    expect(r).toMatchObject({ ok: false, error: { code: 'forbidden', path: 'rtsp.enabled' } });
    expect(b.sup.config.get().rtsp.enabled).toBe(false);
    expect(b.sup.secrets.get().rtsp).toBeUndefined();
    // The login is shown only to the local shell; rtsp.info is not even listed for the cloud.
    expect(await exec('rtsp.info', {}, 'cloud')).toMatchObject({ ok: false });
    expect(isListening(8554, 'tcp')).toBe(false);
  }, PROCESS_TEST_MS);

  it('serves H.264 with Digest auth; wrong or no password refused; two clients; LED blue while pulling; sleep stops it', async () => {
    const port = await freePort('tcp');
    const { b, dir, exec } = await boot({ rtsp: { enabled: true, bindAddress: '127.0.0.1', port } });
    await waitFor(() => b.sup.state.get().rtsp?.status === 'running', 15_000);
    expect(isListening(port, 'tcp')).toBe(true);
    const info = (await exec('rtsp.info', {}, 'local')) as { ok: true; result: { username: string; password: string; urls: Record<string, string> } };
    expect(info).toMatchObject({ ok: true, result: { status: 'running', urls: { wide: `rtsp://127.0.0.1:${port}/wide`, ptz: `rtsp://127.0.0.1:${port}/ptz` } } });
    const { username, password } = info.result;
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(b.sup.secrets.get().rtsp).toEqual({ username, password });
    // Never in the state (which the cloud mirrors) nor the helper's command line.
    expect(JSON.stringify(b.sup.state.get())).not.toContain(password);
    const helperPid = b.sup.state.get().children.rtsp!.pid!;
    expect(readFileSync(`/proc/${helperPid}/cmdline`, 'utf8')).not.toContain(password);
    const url = (lens: string, cred = `${username}:${encodeURIComponent(password)}@`) => `rtsp://${cred}127.0.0.1:${port}/${lens}`;

    // Wrong password, no password: 401, no viewer counted.
    const wrong = await pull(url('wide', `${username}:not-the-password@`), join(dir, 'wrong.ts'), 5).done;
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/401/);
    const none = await pull(url('wide', ''), join(dir, 'none.ts'), 5).done;
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/401/);
    expect(b.sup.state.get().liveViewers).toBe(0);

    const cpuIdle = await cpuPercent(helperPid, 2000);
    // One client as Frigate pulls: H.264 frames, LED solid blue while it pulls.
    const t0 = performance.now();
    const one = pull(url('wide'), join(dir, 'one.ts'), 30);
    await waitFor(() => b.sup.state.get().liveViewers === 1, 15_000, 5);
    const playMs = performance.now() - t0;
    // The LED the indicator service drives (state.led), not only the policy.
    await waitFor(() => b.sup.state.get().led?.state === 'live-view', 5000);
    expect(b.sup.state.get().led).toMatchObject({ color: 'blue', mode: 'solid' });
    expect(ledPattern(b.sup.state.get())).toMatchObject({ state: 'live-view', color: 'blue', mode: 'solid' });
    expect(b.sup.state.get().rtsp?.clients).toBe(1);
    const r1 = await one.done;

    expect(r1.code, r1.stderr).toBe(0);
    expect(probe(join(dir, 'one.ts'))).toEqual({ codec: 'h264', frames: 30 });
    await waitFor(() => b.sup.state.get().liveViewers === 0, 10_000);
    await waitFor(() => b.sup.state.get().led?.state !== 'live-view', 5000);
    expect(b.sup.state.get().led?.mode).not.toBe('solid');

    // Two clients at once (both lenses), measured.
    const a = pull(url('wide'), join(dir, 'a.ts'), 150);
    await waitFor(() => b.sup.state.get().liveViewers === 1, 15_000);
    const cpuOne = await cpuPercent(helperPid, 3000);
    const c = pull(url('ptz'), join(dir, 'c.ts'), 150);
    await waitFor(() => b.sup.state.get().liveViewers === 2, 15_000);
    expect(ledPattern(b.sup.state.get()).state).toBe('live-view');
    const cpuTwo = await cpuPercent(helperPid, 3000);
    // A second client of the same lens shares its pipeline (one relay reader per lens).
    const d = pull(url('wide'), join(dir, 'd.ts'), 150);
    await waitFor(() => b.sup.state.get().liveViewers === 3, 15_000);
    const cpuThree = await cpuPercent(helperPid, 3000);
    a.kill();
    c.kill();
    d.kill();
    await waitFor(() => b.sup.state.get().liveViewers === 0, 15_000);
    // The shared pipelines close with their last client: nothing keeps reading the relays.
    await new Promise((r) => setTimeout(r, 1000));
    const cpuAfter = await cpuPercent(helperPid, 2000);
    // Start-up with a small probe (how fast the server delivers, not how long ffmpeg analyses), 5 runs.
    const quick: number[] = [];
    for (let i = 0; i < 5; i++) {
      quick.push((await spawnTimed(['-analyzeduration', '100000', '-probesize', '32768'], url('wide'), join(dir, `quick${i}.ts`))).firstFrameMs ?? -1);
      await waitFor(() => b.sup.state.get().liveViewers === 0, 10_000);
    }
    quick.sort((x, y) => x - y);
    const quickMs = `${Math.round(quick[0]!)}/${Math.round(quick[2]!)}/${Math.round(quick[4]!)}`;
    console.log(`rtsp: PLAY accepted (viewer counted) ${Math.round(playMs)} ms after the client started; first frame ${Math.round(r1.firstFrameMs ?? -1)} ms (ffmpeg defaults), ${quickMs} ms min/median/max (-analyzeduration 0.1 s); helper CPU idle ${cpuIdle.toFixed(1)} %, 1 client ${cpuOne.toFixed(1)} %, 2 clients (wide+ptz) ${cpuTwo.toFixed(1)} %, 3 clients (2 on wide) ${cpuThree.toFixed(1)} %, after they left ${cpuAfter.toFixed(1)} %`);

    // Sleep: the server stops (no listener, no helper), and comes back on waking.
    const pulling = pull(url('wide'), join(dir, 'sleep.ts'), 1000);
    await waitFor(() => b.sup.state.get().liveViewers === 1, 15_000);
    expect(await exec('sleep.set', { on: true }, 'cloud')).toMatchObject({ ok: true });
    await waitFor(() => b.sup.state.get().rtsp?.status === 'sleeping' && b.sup.state.get().liveViewers === 0, 10_000);
    expect(b.sup.state.get().children.rtsp?.status).toBe('stopped');
    expect(isListening(port, 'tcp')).toBe(false);
    await pulling.done;
    expect(existsSync(`/proc/${helperPid}`)).toBe(false);
    const tWake = performance.now();
    expect(await exec('sleep.set', { on: false }, 'cloud')).toMatchObject({ ok: true });
    await waitFor(() => b.sup.state.get().rtsp?.status === 'running', 15_000, 5);
    console.log(`rtsp: listening again ${Math.round(performance.now() - tWake)} ms after sleep.set off was asked (capture restart included)`);
    // Same login after a restart of the helper: it is the device's, not the run's.
    expect(b.sup.secrets.get().rtsp?.password).toBe(password);
  }, LONG_PROCESS_TEST_MS);
});
