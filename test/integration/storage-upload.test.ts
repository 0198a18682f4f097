import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureServices } from '../../src/services.js';
import { controlServer } from '../../src/control/server.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { RecordingIndex, type RecordingEntry } from '../../src/storage/recording-index.js';
import type { ClipUploadState } from '../../src/storage/upload.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bootSim, REPO, type BootedSim } from '../harness/boot.js';
import { PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';
import { removeTestDirs, smallBoard, testDir } from '../unit/capture/media-fixture.js';
import { PutReceiver } from './storage-upload-receiver.js';
import { confirmed } from '../harness/confirm.js';

// Real processes (the capture ffmpeg children, camctl).
vi.setConfig(PROCESS_TIMEOUTS);
const run = promisify(execFile);

/**
 * Clips the owner can fetch, through the real supervisor on the sim board: capture records real
 * H.264 segments on the card, `recordings.upload` (as the cloud calls it) PUTs them to a real
 * HTTPS receiver trusted through secrets media.caFile, `camctl recordings get` writes them
 * locally, and `recording.retainDays` deletes by age.
 */

let booted: BootedSim;
let dir: string;
let card: string;
let rx: PutReceiver;
const events: CameraEvent[] = [];
type Reply = { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string; path?: string } };
const cloud = (cmd: string, args: Record<string, unknown> = {}) => booted.sup.commands.execute(cmd, args, { source: 'cloud' }) as Promise<Reply>;
const upload = () => booted.sup.state.get().clipUpload;
const eventsOf = (type: string) => events.filter((e) => e.kind === 'storage' && e.type === type);

async function list(lens = 'wide'): Promise<RecordingEntry[]> {
  const r = await cloud('recordings.list', { lens });
  expect(r.ok).toBe(true);
  return (r.result as { recordings: RecordingEntry[] }).recordings;
}

/** The first `n` kept recordings of wide, and their bytes joined. */
async function firstRecordings(n: number): Promise<{ recs: RecordingEntry[]; bytes: Buffer; from: number; to: number }> {
  const recs = (await list()).slice(0, n);
  return { recs, bytes: Buffer.concat(recs.map((r) => readFileSync(join(card, r.file)))), from: recs[0]!.start + 10, to: recs.at(-1)!.end - 10 };
}

async function finished(id: unknown): Promise<ClipUploadState> {
  return waitUntil(() => {
    const st = upload();
    return st && st.id === id && st.phase !== 'uploading' ? st : undefined;
  }, `upload ${String(id)} to finish`);
}

/** The video streams ffprobe finds (codec and decoded frames). */
function probe(file: string): { codec: string; frames: number }[] {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', file]).toString()) as {
    streams: { codec_name: string; nb_read_frames: string }[];
  };
  return out.streams.map((s) => ({ codec: s.codec_name, frames: Number(s.nb_read_frames) }));
}

/** The clip is H.264 and decodes every frame of its segments. */
function expectWholeH264(file: string, segments: string[]): void {
  const got = probe(file);
  expect(got.length).toBeGreaterThan(0);
  expect(got.every((s) => s.codec === 'h264')).toBe(true);
  const want = segments.reduce((n, f) => n + probe(f).reduce((m, s) => m + s.frames, 0), 0);
  expect(got[0]!.frames).toBe(want);
}

beforeAll(async () => {
  dir = testDir({ recording: { mode: 'continuous' }, live: { allowPlaintext: true, allowLocalTargets: false } });
  card = join(dir, 'card');
  mkdirSync(card, { recursive: true });
  rx = await PutReceiver.start(mkdtempSync(join(tmpdir(), 'camd-upload-tls-')));
  booted = await bootSim({ dir, board: smallBoard(dir), services: [controlServer, coreCommands, ...captureServices] });
  booted.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  await booted.sup.secrets.update((s) => ({ ...s, media: { caFile: rx.tls.ca } }));
  expect(await confirmed(cloud, 'storage.initialise')).toMatchObject({ ok: true });
  await waitUntil(async () => (await list()).length >= 4, 'four kept recordings of wide', 30_000);
});

afterAll(async () => {
  await booted?.dispose();
  await rx?.close();
  removeTestDirs();
});

describe('recordings.upload (real capture, real HTTPS receiver)', () => {
  it('the cloud may not send a clip in the clear or into the local network; too large is refused before sending', async () => {
    const { from, to } = await firstRecordings(3);
    const before = rx.puts.length;
    // http:// is refused by name even though live.allowPlaintext is on (uploads are https only).
    expect(await cloud('recordings.upload', { lens: 'wide', from, to, url: `http://localhost:${rx.port}/bucket/a.ts` })).toMatchObject({
      ok: false, error: { code: 'forbidden', message: 'url: http is not encrypted; clips are uploaded over https only (media URL policy: plaintext)' },
    });
    for (const url of [rx.url('a.ts'), `https://127.0.0.1:${rx.port}/a.ts`, `https://[::1]:${rx.port}/a.ts`]) {
      const r = await cloud('recordings.upload', { lens: 'wide', from, to, url });
      expect(r).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect(r.error!.message).toMatch(/loopback address; only public hosts are allowed \(live.allowLocalTargets is off\) \(media URL policy: local-target\)$/);
    }
    expect(rx.puts.length).toBe(before);
    expect(upload()).toBeUndefined();

    // The owner allows local targets at the shell (the test hook every media URL test uses).
    await booted.sup.config.patch({ live: { allowLocalTargets: true } }, 'test');
    expect(await cloud('config.set', { patch: { recording: { uploadMaxBytes: 65_536 } } })).toMatchObject({ ok: true });
    const { bytes } = await firstRecordings(3);
    expect(bytes.length).toBeGreaterThan(65_536);
    const big = await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('a.ts') });
    expect(big).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect(big.error!.message).toContain(`the clip is ${bytes.length} bytes (3 recordings), more than recording.uploadMaxBytes (65536)`);
    expect(rx.puts.length).toBe(before);
    expect(await cloud('config.set', { patch: { recording: { uploadMaxBytes: 512 * 1024 * 1024 } } })).toMatchObject({ ok: true });
    expect(await cloud('recordings.upload', { lens: 'wide', from: to + 3_600_000, to: to + 7_200_000, url: rx.url('a.ts') })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('answers at once with the id and size; the receiver gets the segments byte for byte, an H.264 stream', async () => {
    const { recs, bytes, from, to } = await firstRecordings(3);
    const t0 = performance.now();
    const r = await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('clip.ts') });
    const replyMs = performance.now() - t0;
    expect(r).toMatchObject({ ok: true, result: { lens: 'wide', total: bytes.length, segments: 3, start: recs[0]!.start, end: recs[2]!.end } });
    const st = await finished(r.result!.id);
    const doneMs = performance.now() - t0;
    expect(st.error).toBeUndefined();
    expect(st).toMatchObject({ phase: 'done', bytes: bytes.length, total: bytes.length, segments: 3, url: `https://localhost:${rx.port}/bucket/***` });
    const put = rx.puts.at(-1)!;
    expect(put.body.equals(bytes)).toBe(true);
    expect(put.headers['content-length']).toBe(String(bytes.length));
    const out = join(dir, 'received.ts');
    writeFileSync(out, put.body);
    expectWholeH264(out, recs.map((e) => join(card, e.file)));
    expect(eventsOf('upload.start').at(-1)!.data).toMatchObject({ id: r.result!.id, total: bytes.length, segments: 3 });
    expect(eventsOf('upload.done').at(-1)!.data).toMatchObject({ id: r.result!.id, total: bytes.length, status: 200 });
    // The signature never reaches the state or the events.
    expect(JSON.stringify([st, ...events])).not.toContain('X-Amz-Signature');
    console.log(`recordings.upload: reply in ${replyMs.toFixed(0)} ms, ${bytes.length} bytes (3 segments) done in ${doneMs.toFixed(0)} ms`);
  });

  it('a cut connection fails with a precise error; asking again restarts cleanly from byte 0', async () => {
    const { bytes, from, to } = await firstRecordings(3);
    rx.cutAfter = 32 * 1024;
    const r = await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('cut.ts') });
    expect(r.ok).toBe(true);
    const st = await finished(r.result!.id);
    expect(st.phase).toBe('failed');
    expect(st.error).toMatch(new RegExp(`^upload failed at byte \\d+ of ${bytes.length}: (the connection was reset by the server \\(ECONNRESET\\)|the server closed the connection \\(EPIPE\\))$`));
    expect(st.bytes).toBeLessThan(bytes.length);
    expect(eventsOf('upload.failed').at(-1)!.data).toMatchObject({ id: r.result!.id, error: st.error });
    const again = await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('cut.ts') });
    expect(again.ok).toBe(true);
    expect(await finished(again.result!.id)).toMatchObject({ phase: 'done', bytes: bytes.length });
    expect(rx.puts.at(-1)!.body.equals(bytes)).toBe(true);
  });

  it('one upload at a time; sleep (privacy) cancels it and refuses new ones until the camera wakes', async () => {
    const { bytes, from, to } = await firstRecordings(3);
    rx.hold = true;
    const r = await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('held.ts') });
    expect(r.ok).toBe(true);
    await waitUntil(() => rx.puts.at(-1)?.path === '/bucket/held.ts' && rx.puts.at(-1)!.body.length === bytes.length, 'the held body to arrive');
    expect(await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('second.ts') })).toMatchObject({ ok: false, error: { code: 'busy' } });
    expect(await cloud('sleep.set', { on: true })).toMatchObject({ ok: true });
    const st = await finished(r.result!.id);
    expect(st).toMatchObject({ phase: 'cancelled' });
    expect(st.error).toContain('the camera went to sleep (privacy mode)');
    expect(eventsOf('upload.cancelled').at(-1)!.data).toMatchObject({ id: r.result!.id });
    expect(await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('asleep.ts') })).toMatchObject({ ok: false, error: { code: 'unavailable', message: expect.stringContaining('sleep mode') } });
    rx.release();
    expect(await cloud('sleep.set', { on: false })).toMatchObject({ ok: true });
    const again = await cloud('recordings.upload', { lens: 'wide', from, to, url: rx.url('awake.ts') });
    const awake = await finished(again.result!.id);
    expect(awake.error).toBeUndefined();
    expect(awake).toMatchObject({ phase: 'done' });
  });

  it('camctl recordings get writes the same clip to a local file (refused to the cloud)', async () => {
    const { recs, bytes, from, to } = await firstRecordings(3);
    const out = join(dir, 'fetched.ts');
    const sock = join(dir, 'run', 'camd.sock');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/camctl.ts'), '--socket', sock, 'recordings', 'get', '--lens', 'wide',
      '--from', new Date(from).toISOString(), '--to', String(to), '-o', out], { cwd: REPO });
    expect(stdout).toContain(`${out}: ${bytes.length} bytes, 3 recordings`);
    expect(readFileSync(out).equals(bytes)).toBe(true);
    expect(existsSync(`${out}.part`)).toBe(false);
    expectWholeH264(out, recs.map((e) => join(card, e.file)));
    expect(await cloud('recordings.clip', { lens: 'wide', from, to })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
    const bad = await run(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/camctl.ts'), '--socket', sock, 'recordings', 'get', '--lens', 'wide',
      '--from', String(to + 3_600_000), '--to', String(to + 7_200_000), '-o', join(dir, 'none.ts')], { cwd: REPO }).catch((e: { stderr: string; code: number }) => e);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/^camctl: not_found: no recordings of wide between /) });
    expect(existsSync(join(dir, 'none.ts'))).toBe(false);
  });

  it('recording.retainDays deletes exactly the recordings older than the limit, from the cloud setting', async () => {
    // Old footage beside what capture is recording now: another index instance on the same card
    // writes days capture never touches (the daemon's own index reads the same files).
    const index = new RecordingIndex(card);
    const now = booted.sup.clock.now();
    const day = 86_400_000;
    const old = [now - 9 * day, now - 4 * day, now - 3 * day + 60_000];
    const staging = join(card, 'camd/staging/ptz');
    for (const s of old) {
      const f = join(staging, `old-${s}.ts`);
      writeFileSync(f, Buffer.alloc(2000));
      await index.add('ptz', f, { start: s, end: s + 2000, bytes: 2000, reason: 'continuous' });
    }
    const recentBefore = (await list('wide')).length;
    const ptzBefore = await list('ptz');
    expect(ptzBefore.filter((e) => e.start < now - day).map((e) => e.start)).toEqual(old);
    expect(await cloud('config.set', { patch: { recording: { retainDays: 3 } } })).toMatchObject({ ok: true });
    const ev = await waitUntil(() => eventsOf('card.retention').find((e) => e.data?.reason === 'age'), 'the age retention event');
    expect(ev.data).toMatchObject({ reason: 'age', retainDays: 3, deletedRecordings: 2, freedBytes: 4000 });
    const ptz = await list('ptz');
    expect(ptz.filter((e) => e.start < now - day).map((e) => e.start)).toEqual([old[2]]);
    // Today's recordings are untouched (capture goes on adding).
    expect((await list('wide')).length).toBeGreaterThanOrEqual(recentBefore);
    expect(ptz.length).toBeGreaterThanOrEqual(ptzBefore.length - 2);
    expect(booted.sup.state.get().storage?.lastRetention).toMatchObject({ deletedRecordings: 2 });
    expect(await cloud('config.set', { patch: { recording: { retainDays: 0 } } })).toMatchObject({ ok: true });
    rmSync(join(dir, 'fetched.ts'), { force: true });
  });
});
