import { describe, expect, it } from 'vitest';
import { GopCache, TS_PACKET } from '../../../src/capture/ts-gop.js';

/** A TS packet: PID, payload start, optional random access indicator, a marker byte. */
function pkt(pid: number, opts: { pusi?: boolean; rai?: boolean; mark?: number } = {}): Buffer {
  const b = Buffer.alloc(TS_PACKET, 0xff);
  b[0] = 0x47;
  b[1] = (opts.pusi ? 0x40 : 0) | ((pid >> 8) & 0x1f);
  b[2] = pid & 0xff;
  if (opts.rai) {
    b[3] = 0x30;
    b[4] = 1;
    b[5] = 0x40;
    b[6] = opts.mark ?? 0;
  } else {
    b[3] = 0x10;
    b[4] = opts.mark ?? 0;
  }
  return b;
}

/** PAT with one program whose PMT is on `pmtPid`. */
function pat(pmtPid: number): Buffer {
  const b = Buffer.alloc(TS_PACKET, 0xff);
  b.set([0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | (pmtPid >> 8), pmtPid & 0xff, 0, 0, 0, 0]);
  return b;
}

describe('GopCache', () => {
  it('cuts packets across chunks and hands a new reader PAT, PMT and the GOP since the last keyframe', () => {
    const c = new GopCache();
    const stream = Buffer.concat([
      pat(0x1000),
      pkt(0x1000, { pusi: true }),
      pkt(0x100, { pusi: true, mark: 1 }), // before any keyframe: not cached
      pkt(0x100, { pusi: true, rai: true, mark: 2 }),
      pkt(0x100, { mark: 3 }),
      pkt(0x101, { pusi: true, mark: 4 }),
    ]);
    const a = c.push(stream.subarray(0, 300));
    const b = c.push(stream.subarray(300));
    expect(a.length + b.length).toBe(6);
    const prefix = c.prefix();
    expect(prefix.map((p) => ((p[1]! & 0x1f) << 8) | p[2]!)).toEqual([0, 0x1000, 0x100, 0x100, 0x101]);
    // The next keyframe starts a new GOP.
    c.push(pkt(0x100, { pusi: true, rai: true, mark: 9 }));
    expect(c.prefix()).toHaveLength(3);
    expect(c.prefix()[2]![6]).toBe(9);
  });

  it('gives nothing before a keyframe, and drops a GOP too long to keep', () => {
    const c = new GopCache(TS_PACKET * 3);
    c.push(Buffer.concat([pat(0x1000), pkt(0x1000, { pusi: true }), pkt(0x100, { pusi: true })]));
    expect(c.prefix()).toEqual([]);
    c.push(Buffer.concat([pkt(0x100, { pusi: true, rai: true }), pkt(0x100), pkt(0x100), pkt(0x100)]));
    expect(c.prefix()).toEqual([]);
  });
});
