import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { captureServices, detectionService } from '../../src/services.js';
import type { CameraEvent } from '../../src/state/bus.js';
import type { RecordingEntry } from '../../src/storage/recording-index.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bottleClip, detectBoard, detectDir, personClip, removeDetectDirs, staticClip } from './detect-daemon-media.js';
import { snapshotPath } from '../../src/capture/pipeline.js';
import { LONG_PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { confirmed } from '../harness/confirm.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The whole detection path in the daemon, on real footage at real time: sim capture (ffmpeg -re)
 * → frame tap → detection service → camera.event → storage keeps the clip. The wide lens plays
 * a person walking in (and, after a cut, gone); the PTZ lens plays hands moving bottles.
 */
let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  removeDetectDirs();
});

describe('detection daemon on real footage', () => {
  it('a person → human.start with snapshot and clip reference, then human.end; the bottles never make a vehicle event', async () => {
    const dir = detectDir({ detection: { vehicle: { enabled: true } } });
    mkdirSync(join(dir, 'card'));
    const b = await bootSim({ dir, board: detectBoard(dir, { wide: personClip(), ptz: bottleClip() }), services: [coreCommands, ...captureServices, detectionService] });
    booted = b;
    const events: CameraEvent[] = [];
    b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
    const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
    expect(await confirmed(exec, 'storage.initialise')).toMatchObject({ ok: true, result: { status: 'in-use' } });

    const seen = (p: (e: CameraEvent) => boolean) => () => events.some(p);
    await waitFor(seen((e) => e.type === 'human.start' && e.lens === 'wide'), 25_000, 100);
    const start = events.find((e) => e.type === 'human.start' && e.lens === 'wide')!;
    expect(start).toMatchObject({ kind: 'detection', lens: 'wide' });
    expect(start.id).toMatch(/^[0-9a-f-]{36}$/);
    const sd = start.data as Record<string, any>;
    expect(sd.score).toBeGreaterThan(0.5);
    expect(sd.alert).toBe(true);
    expect(sd.objects).toBe(1);
    expect(sd.box).toHaveLength(4);
    for (const v of sd.box) expect(v).toBeGreaterThanOrEqual(0);
    // The snapshot was kept on the card, named after the event.
    expect(sd.snapshotError).toBeUndefined();
    expect(sd.snapshot.path).toContain(start.id);
    expect(existsSync(join(dir, 'card', sd.snapshot.path))).toBe(true);
    expect(sd.clip).toEqual({ lens: 'wide', from: sd.startedAt - 2000, to: null, recorded: true });
    // The event carries the time of the frame that confirmed the person (storage's pre-roll counts from it).
    expect(start.ts).toBe(sd.startedAt);

    await waitFor(seen((e) => e.type === 'human.end' && (e.data as any).episodeId === sd.episodeId), 20_000, 100);
    const end = events.find((e) => e.type === 'human.end' && (e.data as any).episodeId === sd.episodeId)!;
    const ed = end.data as Record<string, any>;
    expect(ed).toMatchObject({ reason: 'gone', alert: true, clip: { lens: 'wide', from: sd.clip.from, to: end.ts + 2000, recorded: true } });
    expect(ed.snapshot).toBeUndefined();
    expect(end.ts).toBeGreaterThan(start.ts);
    // Updates (if any) carry the same episode, in order between start and end.
    const mine = events.filter((e) => (e.data as any)?.episodeId === sd.episodeId).map((e) => e.type);
    expect(mine[0]).toBe('human.start');
    expect(mine.at(-1)).toBe('human.end');

    // The clip reference finds the recording once its post-roll has been written.
    let recs: RecordingEntry[] = [];
    await waitFor(async () => {
      const r = (await exec('recordings.list', { lens: 'wide', from: ed.clip.from, to: ed.clip.to })) as { ok: boolean; result: { recordings: RecordingEntry[] } };
      recs = r.ok ? r.result.recordings : [];
      return recs.some((x) => x.end >= end.ts);
    }, 15_000, 250);
    expect(recs.every((x) => x.reason === 'event')).toBe(true);
    expect(recs[0]!.start).toBeLessThanOrEqual(start.ts);

    // Hands and bottles on the PTZ lens all along: looked at, never a vehicle.
    const st = b.sup.state.get().detection!;
    expect(st.model.status).toBe('ready');
    expect(st.lenses.ptz!.inferences).toBeGreaterThan(0);
    expect(st.lenses.wide!.framesIn).toBeGreaterThan(20);
    expect(st.lenses.wide!.enabled).toEqual(['human', 'vehicle']);
    expect(events.filter((e) => e.type.startsWith('vehicle.'))).toEqual([]);
    expect(events.filter((e) => e.kind === 'detection' && e.type.startsWith('change.'))).toEqual([]);
  }, LONG_PROCESS_TEST_MS);

  it('no full-size still (as right after capture restarts): the start\'s picture is the frame that confirmed the person, with the box drawn on a copy', async () => {
    const dir = detectDir({});
    mkdirSync(join(dir, 'card'));
    const b = await bootSim({ dir, board: detectBoard(dir, { wide: personClip(), ptz: staticClip() }), services: [coreCommands, ...captureServices, detectionService] });
    booted = b;
    const events: CameraEvent[] = [];
    b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
    const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
    await confirmed(exec, 'storage.initialise');
    // Every event picture is asked for with the lens's still just removed: what a start right
    // after a capture restart meets (ffmpeg has not written its first still yet).
    const ports = b.sup.ctx.ports;
    const real = ports.stills!;
    ports.stills = {
      forEvent: (req) => {
        rmSync(snapshotPath(b.sup.paths.runDir, req.lens), { force: true });
        return real.forEvent(req);
      },
    };
    await waitFor(() => events.some((e) => e.type === 'human.start'), 25_000, 100);
    const start = events.find((e) => e.type === 'human.start')!;
    const sd = start.data as Record<string, any>;
    expect(sd.snapshotError).toBeUndefined();
    expect(sd.snapshot).toMatchObject({ source: 'frame', ts: start.ts, width: 640, height: 360 });
    const file = join(dir, 'card', sd.snapshot.path);
    const size = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file]).toString().trim();
    expect(size).toBe('640,360');
    expect(sd.snapshot.annotated.path).toContain(start.id);
    expect(existsSync(join(dir, 'card', sd.snapshot.annotated.path))).toBe(true);
  }, LONG_PROCESS_TEST_MS);
});
