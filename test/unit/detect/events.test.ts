import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultConfig, type Config } from '../../../src/config/schema.js';
import type { CommandResult } from '../../../src/control/commands.js';
import { systemClock } from '../../../src/core/clock.js';
import { DetectionEvents, SNAPSHOT_TIMEOUT_MS } from '../../../src/detect/events.js';
import type { EpisodeEvent } from '../../../src/detect/tracker.js';
import type { CameraEvent } from '../../../src/state/bus.js';
import type { StorageState } from '../../../src/storage/types.js';

/**
 * Episode → camera.event: snapshot handling (the event is never lost for want of a picture),
 * the clip reference, the alert flag across an episode, and order per lens. The snapshot
 * command is given as a function, as the service wires it to ctx.commands.
 */
const T0 = 1_800_000_000_000;

function episode(phase: EpisodeEvent['phase'], over: Partial<EpisodeEvent> = {}): EpisodeEvent {
  return { id: 'ep-1', phase, lens: 'wide', type: 'human', ts: T0, startedAt: T0, lastSeen: T0, score: 0.8765, box: { x: 0.1, y: 0.2, w: 0.3, h: 0.4 }, objects: 1, alert: true, ...over };
}

function setup(opts: { snapshot?: () => Promise<CommandResult>; config?: Config; card?: StorageState['status'] } = {}) {
  const emitted: CameraEvent[] = [];
  const latencies: number[] = [];
  const ev = new DetectionEvents({
    clock: systemClock,
    log: pino({ level: 'silent' }),
    config: () => opts.config ?? defaultConfig(),
    storage: () => (opts.card ? ({ status: opts.card } as StorageState) : undefined),
    snapshot: opts.snapshot ?? (async () => ({ ok: true, result: { lens: 'wide', ts: T0, bytes: 1234, path: 'snapshots/wide/x.jpg' } })),
    emit: (e) => void emitted.push(e),
    latency: (_lens, ms) => void latencies.push(ms),
  });
  return { ev, emitted, latencies };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(T0 + 25);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('detection events', () => {
  it('start: the documented shape, snapshot on the card, clip from the pre-roll on', async () => {
    const { ev, emitted, latencies } = setup({ card: 'in-use' });
    await ev.publish(episode('start'), 'gone');
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
      snapshot: { ts: T0, bytes: 1234, path: 'snapshots/wide/x.jpg' },
    });
    expect(latencies).toEqual([25]);
  });

  it('a failed snapshot: the event still goes, saying why', async () => {
    const { ev, emitted } = setup({ snapshot: async () => ({ ok: false, error: { code: 'unavailable', message: 'the wide lens has sent no picture for 5 s' } }) });
    await ev.publish(episode('start'), 'gone');
    expect(emitted[0]!.data).toMatchObject({ snapshotError: 'the wide lens has sent no picture for 5 s' });
    expect(emitted[0]!.data!.snapshot).toBeUndefined();
  });

  it('a snapshot that never comes: the start leaves after the timeout, and the lens\'s later events wait behind it', async () => {
    const { ev, emitted } = setup({ snapshot: () => new Promise<CommandResult>(() => {}) });
    const start = ev.publish(episode('start'), 'gone');
    const end = ev.publish(episode('end', { ts: T0 + 4000, lastSeen: T0 + 1000 }), 'gone');
    await vi.advanceTimersByTimeAsync(SNAPSHOT_TIMEOUT_MS - 1);
    expect(emitted).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all([start, end]);
    expect(emitted.map((e) => e.type)).toEqual(['human.start', 'human.end']);
    expect(emitted[0]!.data).toMatchObject({ snapshotError: `no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms` });
  });

  it('without a card, a JPEG too large for the event bound is left out, with the reason', async () => {
    const big = Buffer.alloc(40_000, 1).toString('base64');
    const { ev, emitted } = setup({ snapshot: async () => ({ ok: true, result: { lens: 'wide', ts: T0, bytes: 40_000, jpeg: big } }) });
    await ev.publish(episode('start'), 'gone');
    const d = emitted[0]!.data!;
    expect(d.snapshot).toEqual({ ts: T0, bytes: 40_000 });
    expect(d.snapshotError).toMatch(/no card in use to keep the snapshot.*does not fit in the event/);
    const small = Buffer.alloc(3000, 2).toString('base64');
    const s2 = setup({ snapshot: async () => ({ ok: true, result: { lens: 'wide', ts: T0, bytes: 3000, jpeg: small } }) });
    await s2.ev.publish(episode('start'), 'gone');
    expect(s2.emitted[0]!.data).toMatchObject({ snapshot: { ts: T0, bytes: 3000, jpeg: small } });
  });

  it('cooldown: an episode that started without alert says so on every phase; end carries the post-roll and why', async () => {
    const { ev, emitted } = setup({ card: 'in-use' });
    await ev.publish(episode('start', { alert: false }), 'gone');
    await ev.publish(episode('update', { ts: T0 + 5000, alert: false, objects: 2 }), 'gone');
    await ev.publish(episode('end', { ts: T0 + 9000, alert: false }), 'sleep');
    expect(emitted.map((e) => [e.type, e.data!.alert])).toEqual([['human.start', false], ['human.update', false], ['human.end', false]]);
    expect(emitted[1]!.data!.snapshot).toBeUndefined();
    expect(emitted[2]!.data).toMatchObject({ reason: 'sleep', clip: { from: T0 - 5000, to: T0 + 9000 + 10_000, recorded: true } });
  });

  it('the clip reference says why nothing is recorded', async () => {
    const off = defaultConfig();
    off.recording.mode = 'off';
    const a = setup({ config: off, card: 'in-use' });
    await a.ev.publish(episode('start'), 'gone');
    expect(a.emitted[0]!.data!.clip).toEqual({ lens: 'wide', from: T0 - 5000, to: null, recorded: false, reason: 'recording is off' });
    const b = setup({ card: 'not-initialised' });
    await b.ev.publish(episode('start'), 'gone');
    expect(b.emitted[0]!.data!.clip).toMatchObject({ recorded: false, reason: 'no card in use (card not-initialised)' });
  });
});
