import { describe, expect, it } from 'vitest';
import { clipWindow, KeepPolicy, MAX_EVENT_MS, type KeepSettings } from '../../../src/storage/windows.js';

function policy(s: Partial<KeepSettings> = {}) {
  const settings: KeepSettings = { mode: 'event', preRollMs: 5000, postRollMs: 10_000, ...s };
  return { p: new KeepPolicy(() => settings), settings };
}

describe('KeepPolicy', () => {
  it('event mode keeps segments overlapping [start - preRoll, end + postRoll] of that lens only', () => {
    const { p } = policy();
    expect(p.decide('wide', 0, 2000)).toBeNull();
    p.openEvent('wide', 'human', 20_000);
    expect(p.decide('wide', 13_000, 14_999)).toBeNull();
    expect(p.decide('wide', 14_000, 16_000)).toBe('event');
    expect(p.decide('wide', 1_000_000, 1_002_000)).toBe('event'); // still open
    expect(p.decide('ptz', 20_000, 22_000)).toBeNull();
    p.closeEvent('wide', 'human', 30_000);
    expect(p.decide('wide', 39_000, 41_000)).toBe('event');
    expect(p.decide('wide', 40_001, 42_000)).toBeNull();
    expect(p.activeReasons('wide')).toEqual([]);
  });

  it('continuous keeps everything; manual wins as the reason and works with mode off', () => {
    expect(policy({ mode: 'continuous' }).p.decide('ptz', 0, 1)).toBe('continuous');
    const { p } = policy({ mode: 'off' });
    p.openEvent('wide', 'human', 0);
    expect(p.decide('wide', 0, 1000)).toBeNull();
    expect(p.startManual('wide', 5000)).toBe(true);
    expect(p.startManual('wide', 6000)).toBe(false);
    expect(p.decide('wide', 4000, 6000)).toBe('manual');
    expect(p.activeReasons('wide').sort()).toEqual(['event', 'manual']);
    expect(p.stopManual('wide', 9000)).toBe(true);
    expect(p.decide('wide', 9001, 11_000)).toBeNull();
  });

  it('a detection that never ends stops keeping after the cap; old windows are forgotten', () => {
    const { p } = policy();
    p.openEvent('wide', 'change', 0);
    p.prune(MAX_EVENT_MS + 1, 2000);
    expect(p.eventActive('wide')).toBe(false);
    expect(p.decide('wide', MAX_EVENT_MS + 20_000, MAX_EVENT_MS + 22_000)).toBeNull();
    p.prune(MAX_EVENT_MS * 3, 2000);
    expect(p.decide('wide', MAX_EVENT_MS - 2000, MAX_EVENT_MS)).toBeNull();
  });
});

/** The clip reference the cloud record carries (moved here from detect: the recorder owns the window). */
describe('clipWindow', () => {
  const T0 = 1_800_000_000_000;
  const settings: KeepSettings = { mode: 'event', preRollMs: 5000, postRollMs: 10_000 };

  it('from the pre-roll on while open; the end adds the post-roll', () => {
    expect(clipWindow(settings, { lens: 'wide', phase: 'start', startedAt: T0, ts: T0 }, 'in-use')).toEqual({ lens: 'wide', from: T0 - 5000, to: null, recorded: true });
    expect(clipWindow(settings, { lens: 'wide', phase: 'update', startedAt: T0, ts: T0 + 4000 }, 'full')).toEqual({ lens: 'wide', from: T0 - 5000, to: null, recorded: true });
    expect(clipWindow(settings, { lens: 'ptz', phase: 'end', startedAt: T0, ts: T0 + 9000 }, 'in-use')).toEqual({ lens: 'ptz', from: T0 - 5000, to: T0 + 19_000, recorded: true });
  });

  it('says why nothing is recorded', () => {
    const e = { lens: 'wide', phase: 'start', startedAt: T0, ts: T0 } as const;
    expect(clipWindow({ ...settings, mode: 'off' }, e, 'in-use')).toEqual({ lens: 'wide', from: T0 - 5000, to: null, recorded: false, reason: 'recording is off' });
    expect(clipWindow(settings, e, 'not-initialised')).toMatchObject({ recorded: false, reason: 'no card in use (card not-initialised)' });
    expect(clipWindow(settings, e, undefined)).toMatchObject({ recorded: false, reason: 'no card in use (card absent)' });
  });

  it('KeepPolicy.clip uses the settings of the moment', () => {
    const s: KeepSettings = { ...settings };
    const p = new KeepPolicy(() => s);
    const e = { lens: 'wide', phase: 'end', startedAt: T0, ts: T0 + 1000 } as const;
    expect(p.clip(e, 'in-use').to).toBe(T0 + 11_000);
    s.postRollMs = 2000;
    expect(p.clip(e, 'in-use').to).toBe(T0 + 3000);
  });
});
