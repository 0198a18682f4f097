import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRecordingName, RecordingIndex, recordingName } from '../../../src/storage/recording-index.js';
import { bytesToFree, runRetention } from '../../../src/storage/retention.js';

let card: string;
let index: RecordingIndex;
beforeEach(() => {
  card = mkdtempSync(join(tmpdir(), 'camd-idx-'));
  index = new RecordingIndex(card);
});
afterEach(() => rmSync(card, { recursive: true, force: true }));

const DAY1 = Date.UTC(2024, 4, 1, 10);
const DAY2 = Date.UTC(2024, 4, 2, 10);

async function add(lens: 'wide' | 'ptz', start: number, bytes = 100, partial = false) {
  const staging = join(card, 'camd/staging', lens);
  mkdirSync(staging, { recursive: true });
  const f = join(staging, `r1-${start}.ts`);
  writeFileSync(f, Buffer.alloc(bytes));
  return index.add(lens, f, { start, end: start + 2000, bytes, reason: 'event', ...(partial ? { partial: true } : {}) });
}

describe('RecordingIndex', () => {
  it('names carry the entry; the index lists by time across days', async () => {
    expect(parseRecordingName(recordingName({ start: 1714557600000, end: 1714557602000, reason: 'manual', partial: true }))).toEqual({
      start: 1714557600000, end: 1714557602000, reason: 'manual', partial: true,
    });
    await add('wide', DAY1);
    await add('wide', DAY1 + 2000, 100, true);
    await add('wide', DAY2);
    await add('ptz', DAY1);
    const all = await index.list('wide', 0, DAY2 + 10_000, 100);
    expect(all.recordings.map((r) => r.start)).toEqual([DAY1, DAY1 + 2000, DAY2]);
    expect(all.recordings[1]).toMatchObject({ partial: true, file: 'camd/rec/wide/2024-05-01/' + `${DAY1 + 2000}-2000-ep.ts` });
    expect(existsSync(join(card, all.recordings[0]!.file))).toBe(true);
    expect((await index.list('wide', DAY1 + 1000, DAY1 + 2500, 100)).recordings).toHaveLength(2);
    expect(await index.list('wide', 0, DAY2 + 10_000, 2)).toMatchObject({ truncated: true });
  });

  it('survives a torn last line and a crash between rename and append (reconcile)', async () => {
    await add('wide', DAY1);
    const dayDir = join(card, 'camd/rec/wide/2024-05-01');
    appendFileSync(join(dayDir, 'index.jsonl'), '{"start":17145');
    // A file renamed into place whose line never made it.
    writeFileSync(join(dayDir, `${DAY1 + 4000}-2000-c.ts`), Buffer.alloc(50));
    expect((await index.readDay('wide', '2024-05-01')).map((e) => e.start)).toEqual([DAY1]);
    expect(await index.reconcile('wide', '2024-05-01')).toEqual({ added: 1, dropped: 0 });
    const entries = await index.readDay('wide', '2024-05-01');
    expect(entries.map((e) => [e.start, e.reason, e.bytes])).toEqual([[DAY1, 'event', 100], [DAY1 + 4000, 'continuous', 50]]);
    // A later append after a torn line starts on a fresh line.
    await add('wide', DAY1 + 8000);
    expect(readFileSync(join(dayDir, 'index.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('a recording made before the clock was synchronised is marked, and re-dated to another day by the step', async () => {
    const T1970 = 90_000; // 1970-01-01 00:01:30: a board without RTC before NTP answers
    expect(parseRecordingName(recordingName({ start: T1970, end: T1970 + 2000, reason: 'continuous', clockSynced: false }))).toEqual({
      start: T1970, end: T1970 + 2000, reason: 'continuous', clockSynced: false,
    });
    const staging = join(card, 'camd/staging/wide');
    mkdirSync(staging, { recursive: true });
    const kept = [];
    for (const start of [T1970, T1970 + 2000]) {
      writeFileSync(join(staging, `r1-${start}.ts`), Buffer.alloc(10));
      kept.push(await index.add('wide', join(staging, `r1-${start}.ts`), { start, end: start + 2000, bytes: 10, reason: 'continuous', clockSynced: false }));
    }
    // One from an earlier run of the daemon, never re-dated (its step is unknown): stays marked.
    writeFileSync(join(staging, 'r1-old.ts'), Buffer.alloc(10));
    await index.add('wide', join(staging, 'r1-old.ts'), { start: 30_000, end: 32_000, bytes: 10, reason: 'continuous', clockSynced: false });
    expect(kept[0]!.file).toBe(`camd/rec/wide/1970-01-01/${T1970}-2000-cu.ts`);

    const step = DAY1 - T1970;
    const moved = await index.redate(kept, step);
    expect(moved.map((e) => e.file)).toEqual([`camd/rec/wide/2024-05-01/${DAY1}-2000-c.ts`, `camd/rec/wide/2024-05-01/${DAY1 + 2000}-2000-c.ts`]);
    expect((await index.list('wide', DAY1 - 1, DAY1 + 10_000, 10)).recordings.map((e) => [e.start, e.clockSynced])).toEqual([[DAY1, undefined], [DAY1 + 2000, undefined]]);
    expect((await index.readDay('wide', '1970-01-01')).map((e) => [e.start, e.clockSynced])).toEqual([[30_000, false]]);
    for (const e of moved) expect(existsSync(join(card, e.file))).toBe(true);
    expect(existsSync(join(card, kept[0]!.file))).toBe(false);
    // Reconcile of both days agrees with what redate left (nothing to add or drop).
    expect(await index.reconcile('wide', '2024-05-01')).toEqual({ added: 0, dropped: 0 });
    expect(await index.reconcile('wide', '1970-01-01')).toEqual({ added: 0, dropped: 0 });
    // A file retention took meanwhile is skipped, not an error.
    expect(await index.redate([{ ...kept[0]! }], step)).toEqual([]);
  });

  it('retention deletes oldest first over both lenses and stills, index before files', async () => {
    await add('wide', DAY1, 100);
    await add('ptz', DAY1 + 1000, 100);
    await add('wide', DAY1 + 3000, 100);
    await add('wide', DAY2, 100);
    const stills = join(card, 'camd/snapshots/wide/2024-05-01');
    mkdirSync(stills, { recursive: true });
    writeFileSync(join(stills, 'a.jpg'), Buffer.alloc(100));
    const r = await runRetention(index, ['wide', 'ptz'], 150);
    expect(r).toMatchObject({ deletedRecordings: 2, deletedStills: 0, freedBytes: 200, exhausted: false });
    expect((await index.list('wide', 0, DAY2 + 5000, 10)).recordings.map((e) => e.start)).toEqual([DAY1 + 3000, DAY2]);
    expect((await index.list('ptz', 0, DAY2, 10)).recordings).toEqual([]);
    const all = await runRetention(index, ['wide', 'ptz'], 10_000);
    expect(all.exhausted).toBe(true);
    expect((await index.list('wide', 0, DAY2 + 5000, 10)).recordings).toEqual([]);
    expect(existsSync(join(stills, 'a.jpg'))).toBe(false);
    expect(bytesToFree(1000, 50, 12)).toBe(70);
    expect(bytesToFree(1000, 500, 12)).toBe(0);
  });
});
