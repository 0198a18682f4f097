import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { alarmService } from '../../../src/alarm/service.js';
import type { EventStill } from '../../../src/capture/types.js';
import { systemClock } from '../../../src/core/clock.js';
import { CloudRecords, SNAPSHOT_TIMEOUT_MS } from '../../../src/detect/cloud-record.js';
import { EpisodeOutput } from '../../../src/detect/episodes.js';
import type { EpisodeEvent } from '../../../src/detect/tracker.js';
import type { DetectionEpisode } from '../../../src/domain/episode.js';
import type { CameraEvent } from '../../../src/state/bus.js';
import type { RecordingEntry } from '../../../src/storage/recording-index.js';
import { storageService } from '../../../src/storage/service.js';
import { coreCommands } from '../../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../../harness/boot.js';
import { confirmed } from '../../harness/confirm.js';

/**
 * Where episodes leave the detection service (EpisodeOutput, wired as the service wires it):
 * `detection.episode` goes out at once and only the cloud record waits for the snapshot, so the
 * alarm and the recorder act before any picture exists.
 */
const T0 = 1_800_000_000_000;

function tracked(phase: EpisodeEvent['phase'], over: Partial<EpisodeEvent> = {}): EpisodeEvent {
  return { id: 'ep-1', phase, lens: 'wide', type: 'human', ts: T0, startedAt: T0, lastSeen: T0, score: 0.9, box: { x: 0.4, y: 0.3, w: 0.1, h: 0.3 }, objects: 1, alert: true, ...over };
}

describe('EpisodeOutput', () => {
  it('emits the typed episode before queueing its record, with the start\'s alert on every phase', async () => {
    const order: string[] = [];
    const out = new EpisodeOutput({
      emit: (e) => void order.push(`emit:${e.phase}:${e.alert}:${e.reason ?? '-'}`),
      record: async (e) => void order.push(`record:${e.phase}`),
    });
    await out.publish('wide', tracked('start', { alert: true }), 'gone');
    // The tracker says alert:false on updates and ends; the episode keeps its start's decision.
    await out.publish('wide', tracked('update', { ts: T0 + 500, alert: false }), 'gone');
    await out.publish('wide', tracked('end', { ts: T0 + 900, alert: false }), 'sleep');
    await out.publish('wide', tracked('start', { id: 'ep-2', ts: T0 + 1000, alert: false }), 'gone');
    await out.publish('wide', tracked('end', { id: 'ep-2', ts: T0 + 2000, alert: false }), 'gone');
    expect(order).toEqual([
      'emit:start:true:-', 'record:start',
      'emit:update:true:-', 'record:update',
      'emit:end:true:sleep', 'record:end',
      'emit:start:false:-', 'record:start',
      'emit:end:false:gone', 'record:end',
    ]);
  });

  it('the episode carries lens, type, box, score, objects and times unrounded', () => {
    const seen: DetectionEpisode[] = [];
    const out = new EpisodeOutput({ emit: (e) => void seen.push(e), record: async () => undefined });
    void out.publish('ptz', tracked('start', { lens: 'ptz', score: 0.87654, box: { x: 0.123456, y: 0.2, w: 0.3, h: 0.4 } }), 'gone');
    expect(seen).toEqual([{ phase: 'start', id: 'ep-1', lens: 'ptz', type: 'human', ts: T0, box: { x: 0.123456, y: 0.2, w: 0.3, h: 0.4 }, score: 0.87654, objects: 1, startedAt: T0, lastSeen: T0, alert: true }]);
  });
});

describe('alarm and recorder act on the episode before its snapshot exists', () => {
  let booted: BootedSim | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await booted?.dispose();
    booted = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** The whole supervisor with the alarm and storage, the card initialised; the detection output wired as the detection service wires it. */
  async function boot() {
    dir = mkdtempSync(join(tmpdir(), 'camd-episode-'));
    mkdirSync(join(dir, 'card'), { recursive: true });
    const b = (booted = await bootSim({ dir, services: [coreCommands, alarmService, storageService] }));
    await b.sup.config.patch({ lights: { human: { strobe: true, strobeSeconds: 10 } }, recording: { mode: 'event', preRollSeconds: 5, postRollSeconds: 2 } }, 'test');
    const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'local' });
    expect(await confirmed(exec, 'storage.initialise')).toMatchObject({ ok: true, result: { status: 'in-use' } });
    const records: CameraEvent[] = [];
    b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void (e.kind === 'detection' && records.push(e)));
    let snapshotAsked = 0;
    const cloud = new CloudRecords({
      clock: systemClock,
      log: pino({ level: 'silent' }),
      maxEventBytes: 32 * 1024,
      // A snapshot that never comes.
      snapshot: () => {
        snapshotAsked++;
        return new Promise<EventStill>(() => {});
      },
      emit: (e) => b.sup.bus.emit('camera.event', e),
      latency: () => undefined,
    });
    const owner = { name: 'detection-under-test' };
    b.sup.bus.on(owner, 'recording.clip', (c) => cloud.onClip(c));
    const out = new EpisodeOutput({ emit: (e) => b.sup.bus.emit('detection.episode', e), record: (e) => cloud.publish(e) });
    const list = async (): Promise<RecordingEntry[]> => {
      const r = (await exec('recordings.list', { lens: 'wide', to: Date.now() + 60_000 })) as { ok: boolean; result: { recordings: RecordingEntry[] } };
      return r.ok ? r.result.recordings : [];
    };
    return { b, out, records, list, snapshotAsked: () => snapshotAsked, card: join(dir, 'card') };
  }

  it('the strobes start and the pre-roll is kept while the snapshot is still outstanding; the record leaves later with the recorder\'s clip', async () => {
    const { b, out, records, list, snapshotAsked, card } = await boot();
    // A finished segment waiting in staging as possible pre-roll.
    const now = Date.now();
    const staging = join(card, 'camd/staging/wide');
    mkdirSync(staging, { recursive: true });
    const seg = join(staging, 'r1-000000.ts');
    writeFileSync(seg, Buffer.alloc(4096, 1));
    b.sup.bus.emit('capture.segment', { lens: 'wide', file: seg, start: now - 3000, end: now - 1000, bytes: 4096, partial: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(await list()).toEqual([]);

    const recordLeft = out.publish('wide', tracked('start', { id: 'ep-now', ts: now, startedAt: now, lastSeen: now }), 'gone');
    // Synchronously: the alarm is on, the recorder's window is open.
    expect(b.sup.state.get().alarm).toMatchObject({ active: true, strobes: true, source: 'human' });
    expect(snapshotAsked()).toBe(0); // the record's chain has not even asked for the picture yet
    await new Promise((r) => setTimeout(r, 200));
    expect(snapshotAsked()).toBe(1);
    expect(b.sup.state.get().recording?.lenses.wide).toMatchObject({ active: true, reasons: ['event'] });
    expect((await list()).map((e) => [e.start, e.reason])).toEqual([[now - 3000, 'event']]);
    expect(records).toEqual([]);

    await recordLeft;
    expect(Date.now() - now).toBeGreaterThanOrEqual(SNAPSHOT_TIMEOUT_MS - 50);
    expect(records.map((e) => e.type)).toEqual(['human.start']);
    expect(records[0]!.data).toMatchObject({
      episodeId: 'ep-now',
      alert: true,
      snapshotError: `no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms`,
      clip: { lens: 'wide', from: now - 5000, to: null, recorded: true },
    });
  }, 20_000);

  it('alert:false (cooldown): the alarm stays quiet, the recording still starts, the record says alert:false', async () => {
    const { b, out, records } = await boot();
    const now = Date.now();
    const recordLeft = out.publish('wide', tracked('start', { id: 'ep-quiet', ts: now, startedAt: now, lastSeen: now, alert: false }), 'gone');
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, strobes: false });
    await new Promise((r) => setTimeout(r, 100));
    expect(b.sup.state.get().recording?.lenses.wide).toMatchObject({ active: true, reasons: ['event'] });
    expect(b.sup.state.get().alarm).toMatchObject({ active: false, strobes: false });
    await recordLeft;
    expect(records[0]!.data).toMatchObject({ episodeId: 'ep-quiet', alert: false, clip: { recorded: true } });
  }, 20_000);
});
