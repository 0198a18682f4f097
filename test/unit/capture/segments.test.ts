import { mkdtempSync, rmSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { leftoverSegments, parseSegmentCsv, runTags, SegmentListTail, StreamClock } from '../../../src/capture/segments.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('segment list', () => {
  it('parses complete lines and keeps a partial one for later', () => {
    expect(parseSegmentCsv('a.ts,0.000000,2.100000\nb.ts,2.1,4.1\nc.ts,4.1')).toEqual({
      entries: [{ name: 'a.ts', start: 0, end: 2.1 }, { name: 'b.ts', start: 2.1, end: 4.1 }],
      rest: 'c.ts,4.1',
    });
  });

  it('tails what ffmpeg appends', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camd-seg-'));
    const f = join(dir, 'r1.csv');
    const tail = new SegmentListTail(f);
    expect(await tail.poll()).toEqual([]);
    writeFileSync(f, 'a.ts,0,2\nb.ts,2,');
    expect((await tail.poll()).map((e) => e.name)).toEqual(['a.ts']);
    appendFileSync(f, '4\n');
    expect(await tail.poll()).toEqual([{ name: 'b.ts', start: 2, end: 4 }]);
  });

  it('estimates the wall time of stream zero from the earliest sighting', () => {
    const c = new StreamClock();
    c.observe(10_700, 2);
    c.observe(12_550, 4);
    expect(c.wall(0)).toBe(8550);
    expect(c.wall(4)).toBe(12_550);
  });

  it('finds what a dead run left: listed = complete, unlisted = partial, tiny = empty', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camd-seg-'));
    const tag = 'r1700000000000';
    writeFileSync(join(dir, `${tag}.csv`), `${tag}-000000.ts,0.0,2.0\n${tag}-000001.ts,2.0,4.0\n`);
    for (const n of [0, 1, 2]) writeFileSync(join(dir, `${tag}-00000${n}.ts`), Buffer.alloc(5000));
    writeFileSync(join(dir, `${tag}-000003.ts`), Buffer.alloc(10));
    utimesSync(join(dir, `${tag}-000002.ts`), 1_700_000_005, 1_700_000_005.5);
    writeFileSync(join(dir, 'r1700000099999-000000.ts'), Buffer.alloc(5000));
    expect(await runTags(dir)).toEqual([tag, 'r1700000099999']);
    const { segments, empty } = await leftoverSegments(dir, tag, new Set([`${tag}-000000.ts`]));
    expect(segments).toEqual([
      { file: join(dir, `${tag}-000001.ts`), start: 1_700_000_002_000, end: 1_700_000_004_000, bytes: 5000, partial: false },
      { file: join(dir, `${tag}-000002.ts`), start: 1_700_000_004_000, end: 1_700_000_005_500, bytes: 5000, partial: true },
    ]);
    expect(empty).toEqual([join(dir, `${tag}-000003.ts`)]);
  });
});
