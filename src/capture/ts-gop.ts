/**
 * Just enough MPEG-TS to let a live viewer start at once: the last PAT and PMT, and every packet
 * since the last random-access point (the keyframe ffmpeg's muxer marks with the
 * random_access_indicator). A reader joining gets PAT + PMT + that GOP, so its decoder has a
 * keyframe and the stream parameters immediately instead of waiting up to a GOP (seconds).
 */
export const TS_PACKET = 188;

export class GopCache {
  private pat: Buffer | undefined;
  private pmt: Buffer | undefined;
  private readonly pmtPids = new Set<number>();
  private gop: Buffer[] = [];
  private gopBytes = 0;
  private rest: Buffer | undefined;

  constructor(private readonly maxBytes = 4 * 1024 * 1024) {}

  /** Feeds stream bytes; returns them cut into whole packets (the remainder waits for the next chunk). */
  push(chunk: Buffer): Buffer[] {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    const packets: Buffer[] = [];
    let off = 0;
    while (buf.length - off >= TS_PACKET) {
      if (buf[off] !== 0x47) {
        // Lost sync (should not happen on a local socket): skip to the next sync byte.
        const next = buf.indexOf(0x47, off + 1);
        if (next < 0) {
          off = buf.length;
          break;
        }
        off = next;
        continue;
      }
      const pkt = buf.subarray(off, off + TS_PACKET);
      off += TS_PACKET;
      packets.push(pkt);
      this.observe(pkt);
    }
    if (off < buf.length) this.rest = Buffer.from(buf.subarray(off));
    return packets;
  }

  /** What a new reader gets first. */
  prefix(): Buffer[] {
    if (!this.pat || !this.pmt || this.gop.length === 0) return [];
    return [this.pat, this.pmt, ...this.gop];
  }

  reset(): void {
    this.pat = undefined;
    this.pmt = undefined;
    this.pmtPids.clear();
    this.gop = [];
    this.gopBytes = 0;
    this.rest = undefined;
  }

  private observe(pkt: Buffer): void {
    const pid = ((pkt[1]! & 0x1f) << 8) | pkt[2]!;
    const pusi = (pkt[1]! & 0x40) !== 0;
    const afc = (pkt[3]! >> 4) & 3;
    if (pid === 0) {
      if (pusi) this.readPat(pkt, afc);
      this.pat = pkt;
      return;
    }
    if (this.pmtPids.has(pid)) {
      this.pmt = pkt;
      return;
    }
    if (pid === 0x1fff) return;
    const rai = (afc & 2) !== 0 && pkt[4]! > 0 && (pkt[5]! & 0x40) !== 0;
    if (rai && pusi) {
      this.gop = [];
      this.gopBytes = 0;
    } else if (this.gop.length === 0) {
      return;
    }
    if (this.gopBytes + TS_PACKET > this.maxBytes) {
      // A GOP too long to keep: new readers wait for the next keyframe instead.
      this.gop = [];
      this.gopBytes = 0;
      return;
    }
    // Socket chunks are fresh buffers Node never reuses: keeping views into them is safe.
    this.gop.push(pkt);
    this.gopBytes += TS_PACKET;
  }

  /** PAT: program number → PMT PID pairs after the pointer field and the 8-byte section header. */
  private readPat(pkt: Buffer, afc: number): void {
    let p = 4 + ((afc & 2) !== 0 ? 1 + pkt[4]! : 0);
    p += 1 + pkt[p]!;
    const sectionLength = ((pkt[p + 1]! & 0x0f) << 8) | pkt[p + 2]!;
    const end = Math.min(TS_PACKET - 4, p + 3 + sectionLength - 4);
    this.pmtPids.clear();
    for (let i = p + 8; i + 4 <= end; i += 4) {
      const program = (pkt[i]! << 8) | pkt[i + 1]!;
      const pmtPid = ((pkt[i + 2]! & 0x1f) << 8) | pkt[i + 3]!;
      if (program !== 0) this.pmtPids.add(pmtPid);
    }
  }
}
