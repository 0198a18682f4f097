import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { EventStill } from '../../../src/capture/types.js';
import { systemClock } from '../../../src/core/clock.js';
import { CloudRecords } from '../../../src/detect/cloud-record.js';
import type { DetectionEpisode, DetectionPicture } from '../../../src/domain/episode.js';
import type { CameraEvent } from '../../../src/state/bus.js';

/**
 * The typed `detection.picture` (what Home Assistant's image topic is fed from): one per start
 * that has a picture, with the episode's lens/type/id, whatever the cloud record's inline bound.
 */
const T0 = 1_800_000_000_000;
const episode = (phase: DetectionEpisode['phase']): DetectionEpisode => ({ id: 'ep-7', phase, lens: 'ptz', type: 'vehicle', ts: T0, startedAt: T0, lastSeen: T0, score: 0.9, box: { x: 0.1, y: 0.1, w: 0.2, h: 0.2 }, alert: true });

function setup(still: () => Promise<EventStill>, maxEventBytes = 32 * 1024) {
  const pictures: DetectionPicture[] = [];
  const emitted: CameraEvent[] = [];
  /** How many records had left when each picture came. */
  const recordsOutAtPicture: number[] = [];
  const picture = (p: DetectionPicture): void => {
    recordsOutAtPicture.push(emitted.length);
    pictures.push(p);
  };
  const rec = new CloudRecords({ clock: systemClock, log: pino({ level: 'silent' }), maxEventBytes, snapshot: still, emit: (e) => void emitted.push(e), picture, latency: () => undefined });
  return { rec, pictures, emitted, recordsOutAtPicture };
}

describe('detection.picture from the cloud record', () => {
  it('a start with a picture on the card: its path, before the record leaves', async () => {
    const { rec, pictures, emitted, recordsOutAtPicture } = setup(async () => ({ ts: T0 + 40, bytes: 900, source: 'still', path: 'snapshots/ptz/a.jpg' }));
    await rec.publish(episode('start'));
    expect(recordsOutAtPicture).toEqual([0]);
    expect(pictures).toEqual([{ lens: 'ptz', type: 'vehicle', episodeId: 'ep-7', ts: T0 + 40, path: 'snapshots/ptz/a.jpg' }]);
    await rec.publish(episode('update'));
    await rec.publish(episode('end'));
    expect(pictures).toHaveLength(1); // starts only
    expect(emitted).toHaveLength(3);
  });

  it('without a card: the base64 JPEG, even one too big for the cloud event', async () => {
    const big = 'A'.repeat(40 * 1024);
    const { rec, pictures, emitted } = setup(async () => ({ ts: T0, bytes: 30 * 1024, source: 'frame', jpeg: big }));
    await rec.publish(episode('start'));
    expect(pictures).toEqual([{ lens: 'ptz', type: 'vehicle', episodeId: 'ep-7', ts: T0, jpeg: big }]);
    expect(emitted[0]!.data).toHaveProperty('snapshotError');
  });

  it('no picture (capture down): nothing emitted, the record still leaves', async () => {
    const { rec, pictures, emitted } = setup(() => Promise.reject(new Error('capture is not running')));
    await rec.publish(episode('start'));
    expect(pictures).toEqual([]);
    expect(emitted).toHaveLength(1);
  });
});
