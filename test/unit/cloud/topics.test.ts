import { describe, expect, it } from 'vitest';
import { topicsFor } from '../../../src/cloud/topics.js';
import { planSegmentDrop, summarize } from '../../../src/cloud/outbox/drop-policy.js';
import { encodeRecord, priorityOf, scanRecords, type OutRecord } from '../../../src/cloud/outbox/record.js';

describe('topic map', () => {
  const t = topicsFor('camd', 'CAM123456789');
  it('names every topic under <prefix>/<serial>/', () => {
    expect(t).toMatchObject({
      base: 'camd/CAM123456789',
      availability: 'camd/CAM123456789/availability',
      state: 'camd/CAM123456789/state',
      events: 'camd/CAM123456789/events',
      commandFilter: 'camd/CAM123456789/cmd/+',
      configDesired: 'camd/CAM123456789/config/desired',
      configReported: 'camd/CAM123456789/config/reported',
    });
    expect(t.commandReply('config.set')).toBe('camd/CAM123456789/cmd/config.set/reply');
  });
  it('parses command names and judges response topics', () => {
    expect(t.commandName('camd/CAM123456789/cmd/ptz.move')).toBe('ptz.move');
    expect(t.commandName('camd/CAM123456789/cmd/ptz.move/reply')).toBeUndefined();
    expect(t.commandName('camd/OTHER/cmd/x')).toBeUndefined();
    expect(t.commandName('camd/CAM123456789/cmd/')).toBeUndefined();
    expect(t.isReplyTopic('camd/CAM123456789/reply/app-1')).toBe(true);
    expect(t.isReplyTopic('camd/CAM123456789/reply/app-1/r-17')).toBe(true);
    expect(t.isReplyTopic('camd/CAM1234567890/reply/x')).toBe(false);
    expect(t.isReplyTopic('camd/CAM123456789/reply/')).toBe(false);
    expect(t.isReplyTopic('camd/CAM123456789/reply')).toBe(false);
    expect(t.isReplyTopic('camd/CAM123456789/reply/#')).toBe(false);
    expect(t.isReplyTopic('camd/CAM123456789/')).toBe(false);
    expect(t.isReplyTopic('other/reply')).toBe(false);
    // Topics the device subscribes to or owns for something else are never reply topics.
    for (const own of ['cmd/led.get', 'config/desired', 'events', 'state', 'availability', 'config/reported', 'cmd/led.get/reply']) {
      expect(t.isReplyTopic(`camd/CAM123456789/${own}`)).toBe(false);
    }
  });
});

describe('outbox records and drop plan', () => {
  const rec = (seq: number, prio: 'h' | 'l'): OutRecord => {
    const line = encodeRecord(seq, prio === 'l' ? 'ptz' : 'alarm', prio, 1000 + seq, `{"id":"${seq}"}`);
    return scanRecords(Buffer.from(line)).records[0]!;
  };

  it('round-trips a record and rejects a flipped byte', () => {
    const line = encodeRecord(7, 'detection', 'h', 123, '{"id":"x","data":{"s":"a\\tb"}}');
    expect(scanRecords(Buffer.from(line)).records[0]).toMatchObject({ seq: 7, kind: 'detection', prio: 'h', ts: 123, payload: '{"id":"x","data":{"s":"a\\tb"}}' });
    const bad = Buffer.from(line);
    bad[bad.length - 5] = bad[bad.length - 5]! ^ 1;
    expect(scanRecords(bad)).toMatchObject({ records: [], corrupt: 1 });
    expect(scanRecords(Buffer.from(line + line.slice(0, 10)))).toMatchObject({ tornBytes: 10, goodBytes: line.length });
  });

  it('classifies priorities', () => {
    expect(priorityOf({ kind: 'detection', type: 'human.start' })).toBe('h');
    expect(priorityOf({ kind: 'storage', type: 'card.error' })).toBe('h');
    expect(priorityOf({ kind: 'ptz', type: 'moved' })).toBe('l');
    expect(priorityOf({ kind: 'system', type: 'outbox.dropped' })).toBe('h');
  });

  it('plans: delivered records free, then low priority oldest first, never in flight', () => {
    const recs = [rec(1, 'l'), rec(2, 'h'), rec(3, 'l'), rec(4, 'l'), rec(5, 'h'), rec(6, 'l')];
    const b = recs[0]!.bytes;
    // acked ≤ 1, sent ≤ 3 (2,3 in flight): 1 frees for nothing; 4 and 6 are droppable.
    const low = planSegmentDrop(recs, { pass: 'low', need: 2 * b, acked: 1, sentSeq: 3 });
    expect(low.dropped.map((d) => d.seq)).toEqual([4]);
    expect(low.freed).toBe(2 * b);
    const low2 = planSegmentDrop(recs, { pass: 'low', need: 10 * b, acked: 1, sentSeq: 3 });
    expect(low2.dropped.map((d) => d.seq)).toEqual([4, 6]);
    const any = planSegmentDrop(recs, { pass: 'any', need: 10 * b, acked: 1, sentSeq: 3, already: new Set([4, 6]), countAcked: false });
    expect(any.dropped.map((d) => d.seq)).toEqual([5]);
    expect(summarize([...low2.dropped, ...any.dropped])).toMatchObject({ count: 3, fromSeq: 4, toSeq: 6, byKind: { ptz: 2, alarm: 1 } });
  });
});
