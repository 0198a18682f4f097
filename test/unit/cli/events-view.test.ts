import { beforeEach, describe, expect, it } from 'vitest';
import { setColour, setDisplayZone } from '../../../src/cli/format.js';
import { EventFeed, formatEvent } from '../../../src/cli/views/events.js';

const ts = Date.parse('2026-12-02T06:16:39.697Z');
const ep = '31d2725c-2c87-4796-b8f6-a731ede28e16';
const ev = (type: string, extra: Record<string, unknown> = {}, at = ts) => ({ id: 'x', ts: at, kind: 'detection', type, lens: 'wide', data: { episodeId: ep, score: 0.9, box: [0, 0, 1, 1], objects: 1, ...extra }, clockSynced: true });

describe('camctl events -f', () => {
  beforeEach(() => {
    setColour(false);
    setDisplayZone('UTC');
  });

  it('one line per event: local time, lens, type, score, short episode id', () => {
    expect(formatEvent(ev('human.start', { alert: true }))).toBe('06:16:39.697 wide human.start       0.90 31d2725c objects=1 alert=true');
    expect(formatEvent({ id: 'y', ts, kind: 'button', type: 'reset.short-press', data: { heldMs: 388 } })).toBe('06:16:39.697 -    reset.short-press      heldMs=388');
  });

  it('in the display zone', () => {
    setDisplayZone('Europe/Berlin');
    expect(formatEvent(ev('human.start'))).toMatch(/^07:16:39\.697 /);
  });

  it('folds an episode\'s updates into a count on its end line, unless verbose', () => {
    const feed = new EventFeed(false);
    expect(feed.line(ev('human.start'))).toMatch(/human\.start/);
    expect(feed.line(ev('human.update'))).toBeUndefined();
    expect(feed.line(ev('human.update'))).toBeUndefined();
    expect(feed.line(ev('human.end', { reason: 'gone' }))).toMatch(/human\.end .* reason=gone \(2 updates\)$/);
    const verbose = new EventFeed(true);
    expect(verbose.line(ev('human.update'))).toMatch(/human\.update/);
  });

  it('never runs past 80 columns', () => {
    const long = formatEvent({ id: 'z', ts, kind: 'error', type: 'storage.write-failed', data: { message: 'x'.repeat(200) } });
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('event details', () => {
  it('an epoch in ms reads as a clock time', () => {
    setColour(false);
    setDisplayZone('UTC');
    expect(formatEvent({ id: 'y', ts, kind: 'button', type: 'reset.short-press', data: { heldMs: 300, presenceUntil: ts + 300_000 } })).toBe('06:16:39.697 -    reset.short-press      heldMs=300 presenceUntil=06:21:39');
  });
});
