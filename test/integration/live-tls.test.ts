import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureServices } from '../../src/services.js';
import { MEDIA_CA_BUNDLE, SYSTEM_CA_BUNDLE } from '../../src/live/tls.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitListening } from '../harness/listening.js';
import { PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';
import { removeTestDirs, smallBoard, testDir, toneWav } from '../unit/capture/media-fixture.js';
import { freePort, Receiver } from '../unit/capture/receiver-fixture.js';
import { analyseWav, HttpsFiles, makeMediaPki, TlsFront, type MediaPki } from './live-fixtures.js';

// Real processes (the supervisor's ffmpeg children, receiving ffmpeg, TLS servers).
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * TLS verification of live pushes and talk, end to end: real TLS servers on 127.0.0.1 with
 * certificates of a test CA, the real daemon's ffmpeg children. Without the CA in the secrets the
 * server must be refused (the TLS failure named in the reply, no byte of media sent); with the
 * CA (`secrets.media.caFile`) the media must arrive; a certificate for another name is refused.
 */

let booted: BootedSim;
let dir: string;
let pki: MediaPki;
const events: CameraEvent[] = [];
const closers: (() => Promise<unknown>)[] = [];
type Reply = { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string; path?: string } };
const cloud = (cmd: string, args: Record<string, unknown>) => booted.sup.commands.execute(cmd, args, { source: 'cloud' }) as Promise<Reply>;
const setCa = (caFile: string | undefined) => booted.sup.secrets.update((s) => ({ ...s, media: caFile ? { caFile } : undefined }));

beforeAll(async () => {
  dir = testDir();
  mkdirSync(join(dir, 'pki'));
  pki = await makeMediaPki(join(dir, 'pki'));
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  booted.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  await waitUntil(() => booted.sup.state.get().capture?.wide?.status === 'running', 'wide lens capturing', 15_000);
});

afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await setCa(undefined);
});

afterAll(async () => {
  await booted?.dispose();
  removeTestDirs();
});

describe('TLS pushes and talk verify the server', () => {
  it('rtmps: a server the camera cannot verify is refused; with its CA in the secrets the video arrives', async () => {
    // The sim board's defaults allow local targets (this server is on 127.0.0.1); TLS needs no plaintext allowance.
    expect(booted.sup.config.get().live.allowLocalTargets).toBe(true);
    const rxPort = await freePort('tcp');
    const rx = new Receiver(`rtmp://127.0.0.1:${rxPort}/live/key`, join(dir, 'rx-tls.ts'));
    closers.push(() => rx.kill());
    await waitListening(rxPort, 'tcp');
    const front = await TlsFront.start(pki.server, rxPort);
    closers.push(() => front.close());
    const url = `rtmps://127.0.0.1:${front.port}/live/key`;

    // No CA: the certificate's chain ends at a CA the system does not trust.
    const refused = await cloud('live.start', { lenses: ['wide'], url, audio: false });
    expect(refused, JSON.stringify(refused)).toMatchObject({ ok: false, error: { code: 'unavailable', path: 'url' } });
    expect(refused.error!.message).toMatch(/^live push failed: TLS: the server was not accepted \(Peer certificate failed verification\)/);
    expect(front.handshakes).toBeGreaterThanOrEqual(1); // ffmpeg got as far as the handshake…
    expect(front.bytes).toBe(0); // …and sent nothing after it
    expect(booted.sup.state.get().liveViewers).toBe(0);
    expect(booted.sup.state.get().live?.sessions).toEqual([]);
    expect(events.some((e) => e.type === 'live.started')).toBe(false);

    // The owner's CA in the secrets: trusted besides the system CAs.
    await setCa(pki.ca);
    const ok = await cloud('live.start', { lenses: ['wide'], url, audio: false });
    expect(ok, JSON.stringify(ok)).toMatchObject({ ok: true, result: { lenses: ['wide'] } });
    await waitUntil(() => existsSync(rx.file) && statSync(rx.file).size > 10_000, 'video at the receiver behind TLS', 15_000);
    expect(front.bytes).toBeGreaterThan(10_000);
    const bundle = readFileSync(join(dir, 'run', MEDIA_CA_BUNDLE), 'utf8');
    expect(bundle).toContain(readFileSync(pki.ca, 'utf8').trim());
    const systemCount = (readFileSync(SYSTEM_CA_BUNDLE, 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length;
    expect((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length).toBe(systemCount + 1);
    expect(await cloud('live.stop', {})).toMatchObject({ ok: true });
    await waitUntil(() => booted.sup.state.get().liveViewers === 0, 'the push ended', 10_000);
  });

  it('rtmps: a certificate from the trusted CA but for another host name is refused', async () => {
    await setCa(pki.ca);
    const front = await TlsFront.start(pki.wrongHost);
    closers.push(() => front.close());
    const r = await cloud('live.start', { lenses: ['wide'], url: `rtmps://127.0.0.1:${front.port}/live/key`, audio: false });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, error: { code: 'unavailable', path: 'url' } });
    expect(r.error!.message).toMatch(/TLS: the server was not accepted \(The certificate's owner does not match hostname 127\.0\.0\.1\)/);
    expect(front.bytes).toBe(0);
    expect(booted.sup.state.get().liveViewers).toBe(0);
  });

  it('https talk: refused without the CA, played with it; redirects and playlists are not followed', async () => {
    const tone = toneWav(join(dir, 'voice.wav'), 440, 1.5);
    const srv = await HttpsFiles.start(pki.server, {
      '/voice.wav': { file: tone, type: 'audio/wav' },
      '/moved': { redirect: (port) => `https://127.0.0.1:${port}/voice.wav` },
      '/list.m3u8': { text: '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.5,\nvoice.wav\n#EXT-X-ENDLIST\n', type: 'application/vnd.apple.mpegurl' },
    });
    closers.push(() => srv.close());
    const base = `https://127.0.0.1:${srv.port}`;
    const speaker = join(dir, 'speaker.wav');

    const refused = await cloud('talk.start', { url: `${base}/voice.wav` });
    expect(refused, JSON.stringify(refused)).toMatchObject({ ok: false, error: { code: 'unavailable', path: 'url' } });
    expect(refused.error!.message).toMatch(/^talk failed: TLS: the server was not accepted \(Peer certificate failed verification\)/);
    expect(srv.requests).toEqual([]); // no request went over the unverified connection
    expect(booted.sup.state.get().live?.talk).toBeNull();
    expect(events.some((e) => e.type.startsWith('talk.'))).toBe(false);

    await setCa(pki.ca);
    const ok = await cloud('talk.start', { url: `${base}/voice.wav` });
    expect(ok, JSON.stringify(ok)).toMatchObject({ ok: true, result: { suspended: false } });
    await waitUntil(() => booted.sup.state.get().live?.talk === null, 'talk played to its end', 15_000);
    expect(events.find((e) => e.type === 'talk.ended')).toMatchObject({ data: { reason: 'ended' } });
    const out = analyseWav(speaker);
    expect(out.seconds).toBeGreaterThan(1.3);
    expect(Math.abs(out.hz - 440)).toBeLessThan(10);
    expect(srv.requests).toEqual(['/voice.wav']);

    // A redirect would reach a host the policy never checked: not followed.
    srv.requests.length = 0;
    const moved = await cloud('talk.start', { url: `${base}/moved` });
    expect(moved, JSON.stringify(moved)).toMatchObject({ ok: false, error: { code: 'unavailable', path: 'url' } });
    expect(srv.requests).toEqual(['/moved']);
    // A playlist names further URLs (its segments): the hls demuxer is not on talk's list.
    srv.requests.length = 0;
    const list = await cloud('talk.start', { url: `${base}/list.m3u8` });
    expect(list, JSON.stringify(list)).toMatchObject({ ok: false, error: { code: 'unavailable', path: 'url' } });
    expect(srv.requests).toEqual(['/list.m3u8']);
    expect(booted.sup.state.get().live?.talk).toBeNull();
  });
});

const ffmpeg = promisify(execFile);

/** Runs ffmpeg, returns its stderr whether it succeeded or not. */
async function ffmpegStderr(args: string[]): Promise<string> {
  try {
    const r = await ffmpeg('ffmpeg', ['-hide_banner', '-loglevel', 'warning', ...args], { timeout: 30_000, killSignal: 'SIGKILL' });
    return r.stderr;
  } catch (e) {
    return (e as { stderr?: string }).stderr ?? String(e);
  }
}

describe('the ffmpeg behaviour the policy relies on (Debian\'s ffmpeg, measured)', () => {
  const lavfi = ['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=5', '-t', '1', '-c:v', 'libx264'];

  it('-protocol_whitelist given as an output option binds the output\'s protocols', async () => {
    const port = await freePort('tcp');
    expect(await ffmpegStderr([...lavfi, '-protocol_whitelist', 'tcp', '-f', 'flv', `rtmp://127.0.0.1:${port}/a/b`])).toMatch(/Protocol 'rtmp' not on whitelist 'tcp'/);
    expect(await ffmpegStderr([...lavfi, '-protocol_whitelist', 'rtmps,tcp', '-f', 'flv', `rtmps://127.0.0.1:${port}/a/b`])).toMatch(/Cannot open connection tls:/);
  });

  it('ffmpeg\'s RTSP client ignores -tls_verify: why rtsps counts as plaintext', async () => {
    // If this ever fails, ffmpeg started verifying rtsps servers: url-policy.ts may treat rtsps as TLS.
    const front = await TlsFront.start(pki.server);
    closers.push(() => front.close());
    await ffmpegStderr([...lavfi, '-tls_verify', '1', '-f', 'rtsp', '-rtsp_transport', 'tcp', `rtsps://127.0.0.1:${front.port}/cam`]);
    expect(front.handshakes).toBeGreaterThanOrEqual(1);
    expect(front.bytes).toBeGreaterThan(0); // the RTSP OPTIONS went to a server nobody verified
  });
});
