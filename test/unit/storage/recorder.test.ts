import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { CardStatus } from '../../../src/storage/card.js';
import { Recorder } from '../../../src/storage/recorder.js';
import { RecordingIndex } from '../../../src/storage/recording-index.js';
import { KeepPolicy, type KeepSettings } from '../../../src/storage/windows.js';
import { episode } from '../../harness/episode.js';

/** The recorder's side of a detection episode: its window and the clip it answers with. */
const T0 = 1_800_000_000_000;

function setup(card: CardStatus | undefined = 'in-use') {
  const settings: KeepSettings = { mode: 'event', preRollMs: 5000, postRollMs: 2000 };
  const policy = new KeepPolicy(() => settings);
  const recorder = new Recorder({ policy, index: () => undefined, now: () => T0, clockSynced: () => undefined, card: () => card, log: pino({ level: 'silent' }), onCardError: () => undefined });
  return { policy, recorder, settings };
}

describe('Recorder.onEpisode', () => {
  it('start opens the window at once, update changes nothing, end closes it; each answers with its clip', async () => {
    const { policy, recorder } = setup();
    const start = recorder.onEpisode(episode('human', 'start', { id: 'a', ts: T0 }));
    expect(policy.eventActive('wide')).toBe(true);
    expect(start.clip).toEqual({ episodeId: 'a', phase: 'start', ts: T0, clip: { lens: 'wide', from: T0 - 5000, to: null, recorded: true } });
    expect(start.kept).toBeInstanceOf(Promise);
    await start.kept;
    const update = recorder.onEpisode(episode('human', 'update', { id: 'a', ts: T0 + 3000, startedAt: T0 }));
    expect(update.kept).toBeUndefined();
    expect(update.clip.clip.to).toBeNull();
    expect(policy.decide('wide', T0 + 100_000, T0 + 102_000)).toBe('event');
    const end = recorder.onEpisode(episode('human', 'end', { id: 'a', ts: T0 + 9000, startedAt: T0 }));
    expect(policy.eventActive('wide')).toBe(false);
    expect(end.clip.clip).toEqual({ lens: 'wide', from: T0 - 5000, to: T0 + 11_000, recorded: true });
    expect(policy.decide('wide', T0 + 11_001, T0 + 13_000)).toBeNull();
    expect(recorder.state('wide', 'event').reasons).toEqual([]);
  });

  it('only the episode\'s lens records; without a usable card the clip says why', () => {
    const { policy, recorder } = setup('absent');
    const r = recorder.onEpisode(episode('vehicle', 'start', { lens: 'ptz', ts: T0 }));
    expect(policy.eventActive('ptz')).toBe(true);
    expect(policy.eventActive('wide')).toBe(false);
    expect(r.clip.clip).toEqual({ lens: 'ptz', from: T0 - 5000, to: null, recorded: false, reason: 'no card in use (card absent)' });
  });
});

describe('Recorder.onClockStep', () => {
  it('a recording kept while the clock was not synchronised is marked, and re-dated and unmarked by any step, a small one too', async () => {
    const card = mkdtempSync(join(tmpdir(), 'camd-rec-'));
    try {
      const index = new RecordingIndex(card);
      let synced = false;
      const policy = new KeepPolicy(() => ({ mode: 'continuous', preRollMs: 5000, postRollMs: 2000 }));
      const recorder = new Recorder({ policy, index: () => index, now: () => T0, clockSynced: () => synced, card: () => 'in-use', log: pino({ level: 'silent' }), onCardError: () => undefined });
      const staging = join(card, 'camd/staging/wide');
      mkdirSync(staging, { recursive: true });
      writeFileSync(join(staging, 'r1-000001.ts'), Buffer.alloc(10));
      await recorder.onSegment({ lens: 'wide', file: join(staging, 'r1-000001.ts'), start: T0, end: T0 + 2000, bytes: 10, partial: false });
      const day = readdirSync(join(card, 'camd/rec/wide'))[0]!;
      expect(readdirSync(join(card, 'camd/rec/wide', day)).filter((f) => f.endsWith('.ts'))).toEqual([`${T0}-2000-cu.ts`]);

      synced = true;
      await recorder.onClockStep(300);
      expect(readdirSync(join(card, 'camd/rec/wide', day)).filter((f) => f.endsWith('.ts'))).toEqual([`${T0 + 300}-2000-c.ts`]);
      expect((await index.readDay('wide', day)).map((e) => [e.start, e.clockSynced])).toEqual([[T0 + 300, undefined]]);
    } finally {
      rmSync(card, { recursive: true, force: true });
    }
  });
});
