import { readRange, type Segment } from './segments.js';
import type { OutRecord } from './record.js';

/**
 * Reads durable records in sequence order for publishing. It keeps the records of one segment
 * (≤ 1 MiB) and reads only what the tail gained since the last call, so a drain of 100 000 events
 * reads every byte once and memory stays at one segment.
 */
export class SegmentReader {
  private cache: { seg: Segment; offset: number; records: OutRecord[] } | undefined;

  /**
   * Up to `max` records with seq > `after`. `upTo` is the new read position: the last record
   * returned, or past lines that only failed their checksum.
   */
  async read(segments: readonly Segment[], after: number, max: number): Promise<{ records: OutRecord[]; upTo: number }> {
    const out: OutRecord[] = [];
    let pos = after;
    while (out.length < max) {
      const s = segments.find((x) => x.count > 0 && x.lastSeq > pos);
      if (!s) break;
      if (this.cache?.seg !== s) this.cache = { seg: s, offset: 0, records: [] };
      const cache = this.cache;
      if (cache.offset < s.bytes) {
        for (const r of await readRange(s.path, cache.offset, s.bytes)) cache.records.push(r);
        cache.offset = s.bytes;
      }
      let i = firstAfter(cache.records, pos);
      if (i >= cache.records.length) {
        pos = s.lastSeq;
        continue;
      }
      for (; i < cache.records.length && out.length < max; i++) {
        out.push(cache.records[i]!);
        pos = cache.records[i]!.seq;
      }
    }
    return { records: out, upTo: pos };
  }

  /** A segment was rewritten or deleted (or, without argument, anything may have changed). */
  forget(segs?: readonly Segment[]): void {
    if (!segs || (this.cache && segs.includes(this.cache.seg))) this.cache = undefined;
  }
}

/** Index of the first record with seq > `seq` (records are in ascending seq order). */
function firstAfter(records: readonly OutRecord[], seq: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (records[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
