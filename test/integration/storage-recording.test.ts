import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { episode } from '../harness/episode.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import type { CameraEvent } from '../../src/state/bus.js';
import type { RecordingEntry } from '../../src/storage/recording-index.js';
import { SMALL, smallBoard, smallClip, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { mountCard, unmountCard } from '../unit/capture/card-fixture.js';
import { segmentBeingWritten } from '../harness/staging.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { confirmed } from '../harness/confirm.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
const mounts: string[] = [];
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  for (const m of mounts.splice(0)) unmountCard(m);
  removeTestDirs();
});

async function bootWithCard(config: Record<string, unknown>, size = '20m') {
  const dir = testDir(config);
  const card = join(dir, 'card');
  mountCard(card, size);
  mounts.push(card);
  const events: CameraEvent[] = [];
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  const b = booted;
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  expect(await confirmed(exec, 'storage.initialise')).toMatchObject({ ok: true, result: { status: 'in-use' } });
  const list = async (lens = 'wide'): Promise<RecordingEntry[]> => {
    const r = (await exec('recordings.list', { lens })) as { ok: boolean; result: { recordings: RecordingEntry[] } };
    expect(r.ok).toBe(true);
    return r.result.recordings;
  };
  return { b, dir, card, events, exec, list };
}

function probe(file: string): { packets: number; streams: string[]; keyFirst: boolean } {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'json', file]).toString()) as { streams: { codec_type: string }[] };
  const pk = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=flags', '-of', 'csv=p=0', file]).toString().trim().split('\n');
  return { packets: pk.filter(Boolean).length, streams: out.streams.map((x) => x.codec_type), keyFirst: pk[0]?.startsWith('K') ?? false };
}

/** Every entry's file is there with its size, the list is in order, nothing overlaps. */
function expectConsistent(card: string, entries: RecordingEntry[]): void {
  for (const [i, e] of entries.entries()) {
    expect(existsSync(join(card, e.file))).toBe(true);
    expect(statSync(join(card, e.file)).size).toBe(e.bytes);
    if (i > 0) expect(e.start).toBeGreaterThanOrEqual(entries[i - 1]!.end - 600);
  }
}

describe('recording on the card (real ffmpeg, tmpfs card)', () => {
  it('continuous: seamless segments, indexed, video only by default; kill -9 leaves one partial segment and recording resumes', async () => {
    const { b, card, list } = await bootWithCard({ recording: { mode: 'continuous' } });
    // The cloud being unreachable changes nothing for recording.
    b.sup.state.set('network', { phase: 'exception', reason: 'cloud unreachable' });
    await waitFor(async () => (await list()).length >= 3, 30_000);
    let recs = await list();
    expectConsistent(card, recs);
    expect(recs.every((r) => r.reason === 'continuous' && !r.partial)).toBe(true);
    // No frame lost at the boundaries: each segment holds exactly its duration's worth of
    // frames, starts on a keyframe, and the segments follow each other without a gap.
    for (const r of recs.slice(1)) {
      const p = probe(join(card, r.file));
      expect(p.keyFirst).toBe(true);
      expect(Math.abs(p.packets - ((r.end - r.start) / 1000) * SMALL.fps)).toBeLessThanOrEqual(1);
    }
    for (let i = 1; i < recs.length; i++) expect(Math.abs(recs[i]!.start - recs[i - 1]!.end)).toBeLessThan(600);
    const total = recs.slice(1).reduce((n, r) => n + probe(join(card, r.file)).packets, 0);
    const span = (recs.at(-1)!.end - recs[1]!.start) / 1000;
    expect(Math.abs(total - span * SMALL.fps)).toBeLessThanOrEqual(2);
    // Privacy: the microphone is not recorded unless the owner turned it on.
    expect(probe(join(card, recs[1]!.file)).streams).toEqual(['video']);
    // The ptz lens records too.
    expect((await list('ptz')).length).toBeGreaterThanOrEqual(1);

    // kill -9 in the middle of a segment: one that is open and already holds data.
    await waitFor(() => (segmentBeingWritten(card, 'wide')?.bytes ?? 0) > 0, 10_000);
    const pid = b.sup.state.get().children['capture.wide']!.pid!;
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => (await list()).filter((r) => r.start > killedAt).length >= 1, 30_000);
    recs = await list();
    expectConsistent(card, recs);
    const partial = recs.filter((r) => r.partial);
    expect(partial).toHaveLength(1);
    expect(partial[0]!.file).toMatch(/-cp\.ts$/);
    expect(probe(join(card, partial[0]!.file)).packets).toBeGreaterThan(0);
    // Staging holds only what is being written now.
    expect(readdirSync(join(card, 'camd/staging/wide')).filter((f) => f.endsWith('.ts')).length).toBeLessThanOrEqual(2);

  }, LONG_PROCESS_TEST_MS);

  it('event mode keeps pre-roll and post-roll around a detection; manual recording of the other lens; audio when enabled', async () => {
    const { b, card, exec, list } = await bootWithCard({ recording: { mode: 'event', preRollSeconds: 2, postRollSeconds: 2, audio: true } });
    // Segments come and go in staging while nothing happens.
    await waitFor(() => (b.sup.state.get().recording?.lenses.wide?.dropped ?? 0) >= 2, 30_000);
    expect(await list()).toEqual([]);
    const start = Date.now();
    b.sup.bus.emit('detection.episode', episode('human', 'start', { ts: start }));
    expect(await exec('record.start', { lens: 'ptz' })).toMatchObject({ ok: true, result: { recording: true, already: false } });
    expect(b.sup.state.get().recording?.lenses.ptz).toMatchObject({ active: true, reasons: ['manual'] });
    await new Promise((r) => setTimeout(r, 2500));
    const end = Date.now();
    b.sup.bus.emit('detection.episode', episode('human', 'end', { ts: end, startedAt: start }));
    expect(await exec('record.stop', { lens: 'ptz' })).toMatchObject({ ok: true, result: { wasRecording: true } });
    await waitFor(async () => (await list()).some((r) => r.end >= end + 2000) && (await list('ptz')).some((r) => r.end >= end), 30_000);
    const recs = await list();
    expectConsistent(card, recs);
    expect(recs.every((r) => r.reason === 'event')).toBe(true);
    // Covers [start - preRoll, end + postRoll] without a gap…
    expect(recs[0]!.start).toBeLessThanOrEqual(start - 2000);
    expect(recs.at(-1)!.end).toBeGreaterThanOrEqual(end + 2000);
    for (let i = 1; i < recs.length; i++) expect(recs[i]!.start - recs[i - 1]!.end).toBeLessThan(600);
    // …and not much more (one segment of slack each side).
    expect(recs[0]!.start).toBeGreaterThan(start - 2000 - 2 * 2000 - 600);
    // Manual recording of the ptz lens: from record.start to record.stop, nothing else.
    const ptz = await list('ptz');
    expectConsistent(card, ptz);
    expect(ptz.every((r) => r.reason === 'manual')).toBe(true);
    expect(ptz[0]!.start).toBeLessThanOrEqual(start);
    expect(ptz[0]!.start).toBeGreaterThan(start - 2000 - 600);
    // recording.audio on: the microphone (a tone on the sim board) is in the recordings.
    expect(probe(join(card, recs[0]!.file)).streams.sort()).toEqual(['audio', 'video']);
    // Nothing kept after the post-roll / the stop.
    const n = recs.length;
    const m = ptz.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect((await list()).length).toBeLessThanOrEqual(n + 1);
    expect((await list('ptz')).length).toBeLessThanOrEqual(m + 1);
    expect(b.sup.state.get().recording?.lenses.ptz).toMatchObject({ active: false, reasons: [] });
  }, LONG_PROCESS_TEST_MS);

  it('after a crash of the whole daemon, segments left in staging are recovered at the next start (the cut one marked partial)', async () => {
    const first = await bootWithCard({ recording: { mode: 'continuous' } });
    const { dir, card } = first;
    await booted!.dispose();
    booted = undefined;
    // What a killed daemon leaves: a run's list with one complete segment, and one it was writing.
    const staging = join(card, 'camd/staging/wide');
    for (const f of readdirSync(staging)) rmSync(join(staging, f));
    const tag = `r${Date.now() - 60_000}`;
    const clip = smallClip();
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', clip, '-t', '2', '-c', 'copy', '-f', 'mpegts', join(staging, `${tag}-000000.ts`)]);
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-ss', '2', '-i', clip, '-t', '1.3', '-c', 'copy', '-f', 'mpegts', join(staging, `${tag}-000001.ts`)]);
    writeFileSync(join(staging, `${tag}.csv`), `${tag}-000000.ts,0.000000,2.000000\n`);
    booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
    const b = booted;
    const list = async () => ((await b.sup.commands.execute('recordings.list', { lens: 'wide', to: Date.now() }, { source: 'local' })) as { result: { recordings: RecordingEntry[] } }).result.recordings;
    await waitFor(async () => (await list()).filter((r) => r.start < Date.now() - 30_000).length === 2, 15_000);
    const old = (await list()).filter((r) => r.start < Date.now() - 30_000);
    const t0 = Number(tag.slice(1));
    expect(old[0]).toMatchObject({ start: t0, end: t0 + 2000, reason: 'continuous' });
    expect(old[0]!.partial).toBeUndefined();
    expect(old[1]).toMatchObject({ start: t0 + 2000, partial: true });
    expect(probe(join(card, old[1]!.file)).packets).toBeGreaterThanOrEqual(12);
    expectConsistent(card, await list());
    expect(readdirSync(staging).filter((f) => f.startsWith(tag))).toEqual([]);
  }, LONG_PROCESS_TEST_MS);

  it('retention deletes the oldest recordings first; full only when nothing is left to delete', async () => {
    const { b, card, events, list } = await bootWithCard({ recording: { mode: 'continuous', minFreePercent: 20 } }, '4m');
    await waitFor(async () => (await list()).length >= 4, 30_000);
    const before = await list();
    // Someone else's file takes the card to just under the threshold.
    const st = b.sup.state.get().storage!;
    const total = st.totalBytes!;
    const free = statSync(card) && Number(execFileSync('stat', ['-f', '-c', '%a*%S', card]).toString().trim().split('*').reduce((a, v) => a * Number(v), 1));
    writeFileSync(join(card, 'filler.bin'), Buffer.alloc(Math.max(0, free - Math.floor(total * 0.19))));
    await waitFor(() => events.some((e) => e.type === 'card.retention'), 10_000);
    const after = await list();
    expectConsistent(card, after);
    const gone = before.filter((r) => !after.some((a) => a.file === r.file));
    expect(gone.length).toBeGreaterThan(0);
    // Oldest first: everything deleted is older than everything kept of the earlier list.
    const keptOld = before.filter((r) => after.some((a) => a.file === r.file));
    for (const g of gone) for (const k of keptOld) expect(g.start).toBeLessThan(k.start);
    for (const g of gone) expect(existsSync(join(card, g.file))).toBe(false);
    expect(b.sup.state.get().storage!.status).toBe('in-use');

    // Nearly all of the card taken by a file that is not ours: nothing left to free → full.
    const free2 = Number(execFileSync('stat', ['-f', '-c', '%a*%S', card]).toString().trim().split('*').reduce((a, v) => a * Number(v), 1));
    writeFileSync(join(card, 'filler2.bin'), Buffer.alloc(Math.max(0, free2 - Math.floor(total * 0.05))));
    await waitFor(() => b.sup.state.get().storage?.status === 'full', 10_000);
    expect(events.some((e) => e.type === 'card.full')).toBe(true);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === false, 5000);
    // At most the segments ffmpeg finished while it was being told to stop.
    expect((await list()).length).toBeLessThanOrEqual(2);
    // Space again → in use, recording again.
    rmSync(join(card, 'filler2.bin'));
    await waitFor(() => b.sup.state.get().storage?.status === 'in-use', 10_000);
    await waitFor(() => b.sup.state.get().capture?.wide?.recording === true, 5000);
  }, LONG_PROCESS_TEST_MS);
});
