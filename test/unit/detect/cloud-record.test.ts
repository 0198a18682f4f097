import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventStill, EventStillRequest } from '../../../src/capture/types.js';
import { systemClock } from '../../../src/core/clock.js';
import { CloudRecords, SNAPSHOT_TIMEOUT_MS } from '../../../src/detect/cloud-record.js';
import type { ClipRef, DetectionEpisode } from '../../../src/domain/episode.js';
import type { CameraEvent } from '../../../src/state/bus.js';

/**
 * detection.episode → the cloud's camera.event: the wire format, snapshot handling (the record
 * is never lost for want of a picture), the recorder's clip reference, the alert flag, and order
 * per lens. The snapshot is given as a function, as the service wires it to capture's ctx.ports.stills.
 */
const T0 = 1_800_000_000_000;
const MAX_EVENT_BYTES = 32 * 1024;

function episode(phase: DetectionEpisode['phase'], over: Partial<DetectionEpisode> = {}): DetectionEpisode {
  return { id: 'ep-1', phase, lens: 'wide', type: 'human', ts: T0, startedAt: T0, lastSeen: T0, score: 0.8765, box: { x: 0.1, y: 0.2, w: 0.3, h: 0.4 }, objects: 1, alert: true, ...(phase === 'end' ? { reason: 'gone' as const } : {}), ...over };
}

function setup(opts: { snapshot?: (req: EventStillRequest) => Promise<EventStill> } = {}) {
  const emitted: CameraEvent[] = [];
  const latencies: number[] = [];
  const rec = new CloudRecords({
    clock: systemClock,
    log: pino({ level: 'silent' }),
    maxEventBytes: MAX_EVENT_BYTES,
    snapshot: opts.snapshot ?? (async () => ({ ts: T0, bytes: 1234, source: 'still', path: 'snapshots/wide/x.jpg' })),
    emit: (e) => void emitted.push(e),
    latency: (_lens, ms) => void latencies.push(ms),
  });
  /** What the recorder does during the episode's emit, then what the detection service does after it. */
  const publish = (e: DetectionEpisode, clip?: ClipRef): Promise<void> => {
    if (clip) rec.onClip({ episodeId: e.id, phase: e.phase, ts: e.ts, clip });
    return rec.publish(e);
  };
  return { rec, publish, emitted, latencies };
}

const OPEN: ClipRef = { lens: 'wide', from: T0 - 5000, to: null, recorded: true };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(T0 + 25);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('cloud record of a detection episode', () => {
  it('start: the documented shape, snapshot on the card, the recorder\'s clip', async () => {
    const { publish, emitted, latencies } = setup();
    await publish(episode('start'), OPEN);
    expect(emitted).toHaveLength(1);
    const e = emitted[0]!;
    expect(e).toMatchObject({ ts: T0, kind: 'detection', type: 'human.start', lens: 'wide' });
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.data).toEqual({
      episodeId: 'ep-1',
      score: 0.877,
      box: [0.1, 0.2, 0.3, 0.4],
      objects: 1,
      alert: true,
      startedAt: T0,
      lastSeen: T0,
      clip: { lens: 'wide', from: T0 - 5000, to: null, recorded: true },
      snapshot: { ts: T0, bytes: 1234, source: 'still', path: 'snapshots/wide/x.jpg' },
    });
    // The wire order of the fields is unchanged too (the README documents it).
    expect(Object.keys(e.data!)).toEqual(['episodeId', 'score', 'box', 'objects', 'alert', 'startedAt', 'lastSeen', 'clip', 'snapshot']);
    expect(latencies).toEqual([25]);
  });

  it('the start asks for the picture of its own frame (ts, box, the confirming frame) and reports the annotated copy', async () => {
    const asked: EventStillRequest[] = [];
    const { rec, emitted } = setup({
      snapshot: async (req) => {
        asked.push(req);
        return { ts: req.ts, bytes: 900, source: 'frame', width: 4, height: 2, path: 'snapshots/wide/a.jpg', annotated: { path: 'snapshots/wide/a.annotated.jpg', bytes: 950 } };
      },
    });
    const picture = { width: 4, height: 2, data: new Uint8Array(24), ts: T0 };
    await rec.publish(episode('start'), picture);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ lens: 'wide', ts: T0, box: { x: 0.1, y: 0.2, w: 0.3, h: 0.4 }, picture });
    expect(asked[0]!.eventId).toBe(emitted[0]!.id);
    expect(emitted[0]!.data!.snapshot).toEqual({ ts: T0, bytes: 900, source: 'frame', width: 4, height: 2, path: 'snapshots/wide/a.jpg', annotated: { path: 'snapshots/wide/a.annotated.jpg', bytes: 950 } });
  });

  it('a failed snapshot: the record still goes, saying why', async () => {
    const { publish, emitted } = setup({ snapshot: () => Promise.reject(new Error('the wide lens has sent no picture for 5 s')) });
    await publish(episode('start'), OPEN);
    expect(emitted[0]!.data).toMatchObject({ snapshotError: 'the wide lens has sent no picture for 5 s' });
    expect(emitted[0]!.data!.snapshot).toBeUndefined();
  });

  it('a snapshot that never comes: the start leaves after the timeout, and the lens\'s later records wait behind it', async () => {
    const { publish, emitted } = setup({ snapshot: () => new Promise<EventStill>(() => {}) });
    const start = publish(episode('start'), OPEN);
    const end = publish(episode('end', { ts: T0 + 4000, lastSeen: T0 + 1000 }), { ...OPEN, to: T0 + 14_000 });
    await vi.advanceTimersByTimeAsync(SNAPSHOT_TIMEOUT_MS - 1);
    expect(emitted).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all([start, end]);
    expect(emitted.map((e) => e.type)).toEqual(['human.start', 'human.end']);
    expect(emitted[0]!.data).toMatchObject({ snapshotError: `no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms`, clip: OPEN });
    // Each record keeps the clip of its own moment, though it left later.
    expect(emitted[1]!.data).toMatchObject({ clip: { to: T0 + 14_000 }, reason: 'gone' });
  });

  it('another lens does not wait behind a slow snapshot', async () => {
    const { publish, emitted } = setup({ snapshot: () => new Promise<EventStill>(() => {}) });
    void publish(episode('start'), OPEN);
    await publish(episode('update', { id: 'ep-2', lens: 'ptz', ts: T0 + 10 }), { ...OPEN, lens: 'ptz' });
    expect(emitted.map((e) => [e.lens, e.type])).toEqual([['ptz', 'human.update']]);
  });

  it('without a card, a JPEG too large for the event bound is left out, with the reason', async () => {
    const big = Buffer.alloc(40_000, 1).toString('base64');
    const { publish, emitted } = setup({ snapshot: async () => ({ ts: T0, bytes: 40_000, source: 'frame', width: 640, height: 360, jpeg: big }) });
    await publish(episode('start'), OPEN);
    const d = emitted[0]!.data!;
    expect(d.snapshot).toEqual({ ts: T0, bytes: 40_000, source: 'frame', width: 640, height: 360 });
    expect(d.snapshotError).toMatch(new RegExp(`no card in use to keep the snapshot.*does not fit in the event \\(max ${MAX_EVENT_BYTES - 4096}\\)`));
    const small = Buffer.alloc(3000, 2).toString('base64');
    const s2 = setup({ snapshot: async () => ({ ts: T0, bytes: 3000, source: 'still', jpeg: small }) });
    await s2.publish(episode('start'), OPEN);
    expect(s2.emitted[0]!.data).toMatchObject({ snapshot: { ts: T0, bytes: 3000, jpeg: small } });
  });

  it('cooldown: alert:false on every phase; update has no snapshot; end carries the post-roll clip and why', async () => {
    const { publish, emitted } = setup();
    await publish(episode('start', { alert: false }), OPEN);
    await publish(episode('update', { ts: T0 + 5000, alert: false, objects: 2 }), OPEN);
    await publish(episode('end', { ts: T0 + 9000, alert: false, reason: 'sleep' }), { ...OPEN, to: T0 + 19_000 });
    expect(emitted.map((e) => [e.type, e.data!.alert])).toEqual([['human.start', false], ['human.update', false], ['human.end', false]]);
    expect(emitted[1]!.data!.snapshot).toBeUndefined();
    expect(emitted[2]!.data).toMatchObject({ reason: 'sleep', clip: { from: T0 - 5000, to: T0 + 19_000, recorded: true } });
  });

  it('no recorder answered: the clip says so instead of guessing a window', async () => {
    const { rec, publish, emitted } = setup();
    await publish(episode('start'));
    expect(emitted[0]!.data!.clip).toEqual({ lens: 'wide', from: T0, to: null, recorded: false, reason: 'no recorder running' });
    // A clip for an earlier event of the episode is not taken for a later one.
    rec.onClip({ episodeId: 'ep-1', phase: 'start', ts: T0, clip: OPEN });
    await publish(episode('update', { ts: T0 + 500 }));
    expect(emitted[1]!.data!.clip).toMatchObject({ recorded: false, reason: 'no recorder running' });
  });
});
