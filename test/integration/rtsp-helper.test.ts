import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { helperPath } from '../../src/rtsp/service.js';
import { smallClip } from '../unit/capture/media-fixture.js';
import { freePort } from '../unit/capture/receiver-fixture.js';
import { PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { waitFor } from '../harness/daemon.js';

// The helper on its own (no daemon): the gate that keeps a PLAY from going through before the
// daemon counted the viewer.
vi.setConfig(PROCESS_TIMEOUTS);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A stand-in for capture's relay: every reader gets the clip as live MPEG-TS (ffmpeg -re, copy). */
function fakeRelay(path: string): net.Server {
  const feeders: ChildProcess[] = [];
  const server = net.createServer((sock) => {
    const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', smallClip(), '-c', 'copy', '-f', 'mpegts', 'pipe:1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    feeders.push(ff);
    ff.stdout.pipe(sock);
    sock.on('error', () => ff.kill('SIGKILL'));
    sock.on('close', () => ff.kill('SIGKILL'));
  });
  server.listen(path);
  cleanups.push(() => {
    for (const f of feeders) f.kill('SIGKILL');
    server.close();
  });
  return server;
}

function startHelper(port: number, relay: string, ack: boolean) {
  const child = spawn('/usr/bin/python3', [helperPath()], { stdio: ['pipe', 'pipe', 'ignore'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    const m = JSON.parse(l) as Record<string, unknown>;
    lines.push(m);
    if (ack && m.event === 'viewer') child.stdin.write(`${JSON.stringify({ ack: m.seq })}\n`);
  });
  child.stdin.write(`${JSON.stringify({ address: '127.0.0.1', port, username: 'camd', password: 'a-long-test-password', maxClients: 4, streams: { wide: relay } })}\n`);
  return { child, lines };
}

/** Async on purpose: the fake relay lives in this process and must keep serving while ffmpeg pulls. */
function ffpull(url: string, out: string): Promise<{ code: number | null; stderr: string }> {
  const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-rtsp_transport', 'tcp', '-i', url, '-frames:v', '5', '-c', 'copy', '-y', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => void ff.kill('SIGKILL'));
  let stderr = '';
  ff.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  return new Promise((r) => ff.once('close', (code) => r({ code, stderr })));
}

describe('camd-rtsp.py: no frame before the daemon counted the viewer', () => {
  it('refuses the PLAY (503) when the daemon does not answer; plays when it does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-rtsp-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const relay = join(dir, 'relay.sock');
    fakeRelay(relay);
    const url = (port: number) => `rtsp://camd:a-long-test-password@127.0.0.1:${port}/wide`;

    const p1 = await freePort('tcp');
    const silent = startHelper(p1, relay, false);
    await waitFor(() => silent.lines.some((l) => l.event === 'ready'), 10_000);
    const r1 = await ffpull(url(p1), join(dir, 'no-ack.ts'));
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toMatch(/503/);
    // It asked, got no answer, and took the viewer back.
    expect(silent.lines.map((l) => l.event)).toEqual(['ready', 'viewer', 'gone']);

    const p2 = await freePort('tcp');
    const answered = startHelper(p2, relay, true);
    await waitFor(() => answered.lines.some((l) => l.event === 'ready'), 10_000);
    const r2 = await ffpull(url(p2), join(dir, 'ack.ts'));
    expect(r2.code, r2.stderr).toBe(0);
    expect(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'default=nw=1:nk=1', join(dir, 'ack.ts')]).toString().trim().split('\n')).toContain('h264');
    await waitFor(() => answered.lines.some((l) => l.event === 'gone'), 10_000);
    expect(answered.lines.map((l) => l.event)).toEqual(['ready', 'viewer', 'gone']);
    // The password never reaches stdout.
    expect(JSON.stringify(answered.lines)).not.toContain('a-long-test-password');
  }, PROCESS_TEST_MS);

  it('exits when the daemon goes away (stdin closed): nobody would count its viewers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-rtsp-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort('tcp');
    const h = startHelper(port, join(dir, 'relay.sock'), true);
    await waitFor(() => h.lines.some((l) => l.event === 'ready'), 10_000);
    const exited = new Promise<number | null>((r) => h.child.once('exit', (code) => r(code)));
    h.child.stdin.end();
    expect(await exited).toBe(0);
  }, PROCESS_TEST_MS);
});
