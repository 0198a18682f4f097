import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CamdError } from '../../../src/core/errors.js';
import { checkMediaUrl, inspectMediaUrl } from '../../../src/live/url-policy.js';
import { openClip, planClip } from '../../../src/storage/clip.js';
import { RecordingIndex } from '../../../src/storage/recording-index.js';
import { runAgeRetention } from '../../../src/storage/retention.js';
import { publicOnlyLookup, putClip } from '../../../src/storage/upload.js';
import { PutReceiver } from '../../integration/storage-upload-receiver.js';
import { smallClip } from '../capture/media-fixture.js';

/**
 * Clips (src/storage/clip.ts) and their upload (src/storage/upload.ts) against a real HTTPS
 * receiver on 127.0.0.1 with a test CA; the segments are real MPEG-TS cut by ffmpeg's segment
 * muxer exactly as capture cuts them (reset_timestamps=1).
 */

let dir: string;
let segDir: string;
let rx: PutReceiver;
let ca: string;
const T0 = Date.UTC(2026, 10, 30, 23, 59, 54); // the clip runs past midnight: two index days

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camd-clip-'));
  segDir = join(dir, 'segs');
  mkdirSync(segDir);
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', smallClip(), '-t', '12', '-an', '-c:v', 'copy', '-f', 'segment', '-segment_time', '2',
    '-segment_format', 'mpegts', '-reset_timestamps', '1', join(segDir, 'seg-%03d.ts')]);
  rx = await PutReceiver.start(mkdtempSync(join(tmpdir(), 'camd-clip-tls-')));
  ca = readFileSync(rx.tls.ca, 'utf8');
}, 60_000);

afterAll(async () => {
  await rx?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh card with the six 2 s segments of T0..T0+12 s indexed for `wide`. */
async function card(name: string, copies = 1): Promise<{ index: RecordingIndex; files: string[] }> {
  const mount = join(dir, name);
  const index = new RecordingIndex(mount);
  const staging = join(mount, 'camd/staging/wide');
  mkdirSync(staging, { recursive: true });
  const segs = readdirSync(segDir).sort();
  const files: string[] = [];
  let start = T0;
  for (let c = 0; c < copies; c++) {
    for (const s of segs) {
      const src = join(staging, `${c}-${s}`);
      copyFileSync(join(segDir, s), src);
      const bytes = readFileSync(src).length;
      const e = await index.add('wide', src, { start, end: start + 2000, bytes, reason: 'continuous' });
      files.push(join(mount, e.file));
      start += 2000;
    }
  }
  return { index, files };
}

const concat = (files: string[]): Buffer => Buffer.concat(files.map((f) => readFileSync(f)));

function ffprobe(file: string): { codec: string; frames: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'csv=p=0', file]).toString().trim();
  const [codec, frames] = out.split('\n')[0]!.split(',');
  return { codec: codec!, frames: Number(frames) };
}

describe('planClip', () => {
  it('takes exactly the segments overlapping [from, to], across days, and refuses too large before opening anything', async () => {
    const { index, files } = await card('plan');
    const p = await planClip(index, 'wide', T0 + 2500, T0 + 6500, 1e9);
    expect(p.segments.map((s) => s.path)).toEqual(files.slice(1, 4));
    expect(p.total).toBe(concat(files.slice(1, 4)).length);
    expect([p.start, p.end]).toEqual([T0 + 2000, T0 + 8000]);
    expect((await planClip(index, 'wide', T0, T0 + 12_000, 1e9)).segments).toHaveLength(6);
    const big = concat(files).length;
    await expect(planClip(index, 'wide', T0, T0 + 12_000, big - 1)).rejects.toMatchObject({ code: 'too_large', message: expect.stringContaining(`the clip is ${big} bytes (6 recordings), more than recording.uploadMaxBytes (${big - 1})`) });
    await expect(planClip(index, 'wide', T0 + 60_000, T0 + 70_000, 1e9)).rejects.toMatchObject({ code: 'not_found' });
    await expect(planClip(index, 'ptz', T0, T0 + 12_000, 1e9)).rejects.toMatchObject({ code: 'not_found' });
    await expect(planClip(index, 'wide', T0 + 1, T0, 1e9)).rejects.toMatchObject({ code: 'invalid_args' });
  });

  it('a segment deleted after opening is still read whole; one deleted before opening fails naming it', async () => {
    const { index, files } = await card('gone');
    const plan = await planClip(index, 'wide', T0, T0 + 12_000, 1e9);
    const want = concat(files);
    const clip = await openClip(plan);
    rmSync(files[2]!);
    const chunks: Buffer[] = [];
    for await (const c of clip.stream()) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(want)).toBe(true);
    await expect(openClip(plan)).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining(files[2]!) });
  });
});

describe('putClip (real HTTPS receiver, test CA)', () => {
  it('PUTs the byte-exact concatenation with its length; the receiver has an H.264 stream with every frame', async () => {
    const { index, files } = await card('put');
    const clip = await openClip(await planClip(index, 'wide', T0, T0 + 12_000, 1e9));
    const seen: number[] = [];
    expect(await putClip(new URL(rx.url('a.ts')), clip, { ca, publicOnly: false, onProgress: (b) => seen.push(b) })).toEqual({ status: 200 });
    const put = rx.puts.at(-1)!;
    const want = concat(files);
    expect(put.body.equals(want)).toBe(true);
    expect(put.headers['content-length']).toBe(String(want.length));
    expect(put.headers['content-type']).toBe('video/mp2t');
    expect(put.query).toContain('X-Amz-Signature=');
    expect(seen.at(-1)).toBe(want.length);
    const out = join(dir, 'received.ts');
    writeFileSync(out, put.body);
    const probed = ffprobe(out);
    expect(probed.codec).toBe('h264');
    const perSegment = files.reduce((n, f) => n + ffprobe(f).frames, 0);
    expect(probed.frames).toBe(perSegment);
  });

  it('a cut connection fails with where and why; asked again it restarts from byte 0 and arrives whole', async () => {
    const { index, files } = await card('cut', 8);
    const want = concat(files);
    const plan = await planClip(index, 'wide', T0, T0 + 1e6, 1e9);
    rx.cutAfter = 64 * 1024;
    const err = await putClip(new URL(rx.url('cut.ts')), await openClip(plan), { ca, publicOnly: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CamdError);
    expect((err as CamdError).code).toBe('failed');
    expect((err as CamdError).message).toMatch(new RegExp(`^upload failed at byte \\d+ of ${want.length}: (the connection was reset by the server \\(ECONNRESET\\)|the server closed the connection \\(EPIPE\\))$`));
    expect(rx.puts.at(-1)!.body.length).toBeLessThan(want.length);
    await putClip(new URL(rx.url('cut.ts')), await openClip(plan), { ca, publicOnly: false });
    expect(rx.puts.at(-1)!.body.equals(want)).toBe(true);
  });

  it('an error answer names the status and the storage error code; an untrusted server is refused by TLS', async () => {
    const { index } = await card('denied');
    const plan = await planClip(index, 'wide', T0, T0 + 12_000, 1e9);
    rx.status = 403;
    try {
      await expect(putClip(new URL(rx.url('x.ts')), await openClip(plan), { ca, publicOnly: false })).rejects.toMatchObject({
        code: 'failed',
        message: expect.stringMatching(/^the server answered HTTP 403 \(AccessDenied\) at byte \d+ of \d+$/),
      });
    } finally {
      rx.status = undefined;
    }
    const before = rx.puts.length;
    await expect(putClip(new URL(rx.url('x.ts')), await openClip(plan), { publicOnly: false })).rejects.toMatchObject({
      code: 'failed',
      message: 'upload failed at byte 0 of ' + plan.total + ': TLS: the server certificate is not signed by a trusted CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
    });
    expect(rx.puts.length).toBe(before);
  });

  it('the connect-time lookup refuses a name that resolves to loopback (DNS rebinding after the policy check)', async () => {
    const { index } = await card('rebind');
    const plan = await planClip(index, 'wide', T0, T0 + 12_000, 1e9);
    const before = rx.puts.length;
    await expect(putClip(new URL(rx.url('r.ts')), await openClip(plan), { ca, publicOnly: true })).rejects.toMatchObject({
      code: 'failed',
      message: expect.stringMatching(/^upload failed at byte 0 of \d+: refused \(ELOCALTARGET: host "localhost" now resolves to (127\.0\.0\.1|::1), a loopback address \(media URL policy: local-target\)\)$/),
    });
    expect(rx.puts.length).toBe(before);
    expect(typeof publicOnlyLookup).toBe('function');
  });

  it('throughput over loopback (figure for the README)', async () => {
    // 40 copies of the 12 s clip: ~ the size of a few minutes of real 1080p recording? no — of the small test clip; bytes are bytes.
    const { index, files } = await card('bench', 40);
    const plan = await planClip(index, 'wide', T0, T0 + 1e7, 1e10);
    // Repeat until ~32 MB went through, to time more than TLS set-up.
    let bytes = 0;
    const t0 = performance.now();
    let runs = 0;
    while (bytes < 32e6) {
      await putClip(new URL(rx.url('bench.ts')), await openClip(plan), { ca, publicOnly: false });
      bytes += plan.total;
      runs++;
    }
    const ms = performance.now() - t0;
    const mbs = bytes / 1e6 / (ms / 1000);
    console.log(`upload throughput over loopback: ${(bytes / 1e6).toFixed(1)} MB in ${runs} PUTs of ${(plan.total / 1e6).toFixed(2)} MB, ${ms.toFixed(0)} ms = ${mbs.toFixed(1)} MB/s (${(mbs * 8).toFixed(0)} Mbit/s)`);
    expect(rx.puts.at(-1)!.body.equals(concat(files))).toBe(true);
    expect(mbs).toBeGreaterThan(5);
  });
});

describe('the media URL policy for uploads', () => {
  it('https only whatever live.allowPlaintext says; loopback and LAN refused unless live.allowLocalTargets', async () => {
    const open = { allowPlaintext: true, allowLocalTargets: true };
    const strict = { allowPlaintext: false, allowLocalTargets: false };
    expect(() => inspectMediaUrl('http://203.0.113.9/bucket/a.ts', 'upload', open)).toThrow(/url: http is not encrypted; clips are uploaded over https only \(media URL policy: plaintext\)/);
    expect(() => inspectMediaUrl('rtmps://203.0.113.9/app/key', 'upload', open)).toThrow(/scheme rtmps not supported \(use https, http\)/);
    // The URL parser reads https://2130706433 as 127.0.0.1 (a special scheme): refused as loopback.
    await expect(checkMediaUrl('https://2130706433/a.ts', 'upload', strict)).rejects.toMatchObject({ message: expect.stringContaining('loopback') });
    for (const url of ['https://127.0.0.1:9/a.ts', 'https://[::1]/a.ts', 'https://192.168.1.10/a.ts', 'https://169.254.169.254/latest']) {
      await expect(checkMediaUrl(url, 'upload', strict)).rejects.toMatchObject({ code: 'forbidden', message: expect.stringContaining('(media URL policy: local-target)') });
    }
    await expect(checkMediaUrl('https://localhost:9/a.ts', 'upload', strict)).rejects.toMatchObject({ code: 'forbidden' });
    expect((await checkMediaUrl('https://localhost:9/a.ts', 'upload', open)).verifyTls).toBe(true);
    expect((await checkMediaUrl('https://storage.example/b/a.ts?X-Amz-Signature=ab', 'upload', strict, async () => ['203.0.113.9'])).url.hostname).toBe('storage.example');
  });
});

describe('time-based retention (recording.retainDays)', () => {
  it('deletes exactly the recordings that ended before the cutoff and the stills written before it', async () => {
    const mount = join(dir, 'age');
    const index = new RecordingIndex(mount);
    const staging = join(mount, 'camd/staging/wide');
    mkdirSync(staging, { recursive: true });
    const now = Date.UTC(2026, 11, 2, 12);
    const day = 86_400_000;
    const starts = { wide: [now - 10 * day, now - 3 * day - 1000, now - 3 * day + 500, now - day, now - 1000], ptz: [now - 5 * day, now - 60_000] };
    for (const [lens, list] of Object.entries(starts) as ['wide' | 'ptz', number[]][]) {
      mkdirSync(join(mount, 'camd/staging', lens), { recursive: true });
      for (const s of list) {
        const src = join(mount, 'camd/staging', lens, `${s}.ts`);
        writeFileSync(src, Buffer.alloc(1000));
        await index.add(lens, src, { start: s, end: s + 2000, bytes: 1000, reason: 'continuous' });
      }
    }
    const snapDir = (d: number) => join(mount, 'camd/snapshots/wide', new Date(d).toISOString().slice(0, 10));
    const oldSnap = join(snapDir(now - 4 * day), 'old.jpg');
    const newSnap = join(snapDir(now - 2 * day), 'new.jpg');
    for (const [f, t] of [[oldSnap, now - 4 * day], [newSnap, now - 2 * day]] as const) {
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, Buffer.alloc(500));
      utimesSync(f, t / 1000, t / 1000);
    }
    // retainDays = 3: the cutoff is now - 3 days. The segment that starts 1 s before it and ends 1 s after is kept whole.
    const r = await runAgeRetention(index, ['wide', 'ptz'], now - 3 * day);
    expect(r).toEqual({ deletedRecordings: 2, deletedStills: 1, freedBytes: 2500 });
    expect((await index.list('wide', 0, now, 100)).recordings.map((e) => e.start)).toEqual(starts.wide.slice(1));
    expect((await index.list('ptz', 0, now, 100)).recordings.map((e) => e.start)).toEqual(starts.ptz.slice(1));
    expect(existsSync(oldSnap)).toBe(false);
    expect(existsSync(newSnap)).toBe(true);
    // The files are gone with their index lines: nothing on the card that the index does not name.
    expect(readdirSync(join(mount, 'camd/rec/wide')).sort()).toEqual([...new Set(starts.wide.slice(1).map((s) => new Date(s).toISOString().slice(0, 10)))].sort());
    // A second pass finds nothing.
    expect(await runAgeRetention(index, ['wide', 'ptz'], now - 3 * day)).toEqual({ deletedRecordings: 0, deletedStills: 0, freedBytes: 0 });
  });
});
