import { describe, expect, it } from 'vitest';
import { FrameAssembler, FramePool, TapPairer, tapFrame, tapWithDemands, type FramePair } from '../../../src/capture/tap.js';

function pairer(rgb: boolean, sync = false) {
  const delivered: FramePair[] = [];
  const queued: (() => void)[] = [];
  const released: Buffer[] = [];
  let t = 1000;
  const p = new TapPairer({
    rgb,
    now: () => t++,
    schedule: (fn) => (sync ? fn() : queued.push(fn)),
    deliver: (pair) => void delivered.push({ ...pair, gray: Buffer.from(pair.gray), rgb: pair.rgb && Buffer.from(pair.rgb) }),
    release: (_k, b) => void released.push(b),
  });
  return { p, delivered, released, run: () => queued.splice(0).forEach((f) => f()) };
}

describe('FrameAssembler', () => {
  it('cuts frames across any chunking, reusing pooled buffers', () => {
    const pool = new FramePool(6);
    const frames: number[][] = [];
    const asm = new FrameAssembler(pool, (f) => {
      frames.push([...f]);
      pool.release(f);
    });
    const bytes = Buffer.from(Array.from({ length: 20 }, (_, i) => i));
    asm.push(bytes.subarray(0, 4));
    asm.push(bytes.subarray(4, 5));
    asm.push(bytes.subarray(5, 17));
    asm.push(bytes.subarray(17, 20));
    expect(frames).toEqual([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17]]);
    // A new run starts at a frame boundary: the half frame (18, 19) is forgotten.
    asm.reset();
    asm.push(Buffer.from([9, 9, 9, 9, 9, 9]));
    expect(frames.at(-1)).toEqual([9, 9, 9, 9, 9, 9]);
  });

  it('keeps at most a few spare buffers', () => {
    const pool = new FramePool(4, 2);
    const bufs = [pool.acquire(), pool.acquire(), pool.acquire()];
    bufs.forEach((b) => pool.release(b));
    expect(pool.acquire()).toBe(bufs[1]);
    expect(pool.acquire()).toBe(bufs[0]);
    expect(pool.acquire()).not.toBe(bufs[2]);
  });
});

describe('TapPairer', () => {
  it('pairs the n-th gray with the n-th rgb frame, in either arrival order', () => {
    const { p, delivered, run } = pairer(true);
    p.gray(Buffer.from('g0'));
    p.rgb(Buffer.from('r0'));
    run();
    p.rgb(Buffer.from('r1'));
    p.gray(Buffer.from('g1'));
    run();
    expect(delivered.map((d) => [d.seq, d.gray.toString(), d.rgb?.toString()])).toEqual([
      [0, 'g0', 'r0'],
      [1, 'g1', 'r1'],
    ]);
    // The pair carries the time its first half arrived.
    expect(delivered[0]!.ts).toBe(1000);
  });

  it('drops (and counts) a pair the event loop did not deliver before the next: latest wins, nothing queues', () => {
    const { p, delivered, released, run } = pairer(false);
    for (let i = 0; i < 5; i++) p.gray(Buffer.from(`g${i}`));
    run();
    expect(delivered.map((d) => d.gray.toString())).toEqual(['g4']);
    expect(p.counts).toMatchObject({ frames: 5, delivered: 1, dropped: 4 });
    // Every buffer went back to its pool.
    expect(released).toHaveLength(5);
  });

  it('bounds half pairs whose twin never comes; a twin that comes too late is dropped, later pairs still match', () => {
    const { p, delivered } = pairer(true, true);
    for (let i = 0; i < 10; i++) p.gray(Buffer.from(`g${i}`));
    // Six wait for their rgb twin; the four oldest were given up.
    expect(p.counts.unpaired).toBe(4);
    p.rgb(Buffer.from('r0'));
    expect(p.counts.unpaired).toBe(5);
    expect(delivered).toHaveLength(0);
    for (let i = 1; i < 5; i++) p.rgb(Buffer.from(`r${i}`));
    p.rgb(Buffer.from('r5'));
    expect(delivered.map((d) => [d.gray.toString(), d.rgb?.toString()])).toEqual([['g4', 'r4'], ['g5', 'r5']]);
    p.reset();
    p.gray(Buffer.from('a'));
    p.rgb(Buffer.from('b'));
    expect(delivered.at(-1)).toMatchObject({ seq: 0 });
  });
});

describe('tapFrame (the one capture.frame of a pair)', () => {
  const tap = { width: 4, height: 2, fps: 5, rgbWidth: 8, rgbHeight: 4 };

  it('carries both planes of the pair, sized from the run\'s tap, the pooled buffers themselves', () => {
    const gray = Buffer.alloc(8);
    const rgb = Buffer.alloc(96);
    const f = tapFrame('ptz', { seq: 3, ts: 1234, gray, rgb }, tap);
    expect(f).toEqual({ lens: 'ptz', seq: 3, ts: 1234, gray: { width: 4, height: 2, data: gray }, rgb: { width: 8, height: 4, data: rgb } });
    expect(f.gray.data).toBe(gray);
    expect(f.rgb!.data).toBe(rgb);
  });

  it('has no rgb plane when the RGB tap is off', () => {
    const f = tapFrame('wide', { seq: 0, ts: 1, gray: Buffer.alloc(8) }, { ...tap, rgbWidth: 0, rgbHeight: 0 });
    expect(f).not.toHaveProperty('rgb');
  });
});

describe('tapWithDemands (a larger gray plane on demand)', () => {
  const cfg = { width: 352, height: 198, fps: 5, rgbWidth: 640, rgbHeight: 360 };
  const lens = { width: 1920, height: 1080 };

  it('is the configured tap without demands', () => {
    expect(tapWithDemands(cfg, [], lens)).toBe(cfg);
  });

  it('takes the largest demand for the gray plane only; rate and RGB plane unchanged', () => {
    expect(tapWithDemands(cfg, [{ width: 640, height: 360 }, { width: 960, height: 540 }], lens)).toEqual({ ...cfg, width: 960, height: 540 });
  });

  it('never shrinks the detectors\' plane, never exceeds the lens or the config bounds', () => {
    expect(tapWithDemands(cfg, [{ width: 160, height: 90 }], lens)).toBe(cfg);
    expect(tapWithDemands(cfg, [{ width: 960, height: 540 }], { width: 768, height: 432 })).toEqual({ ...cfg, width: 768, height: 432 });
    expect(tapWithDemands(cfg, [{ width: 1920, height: 1080 }], lens)).toEqual({ ...cfg, width: 1280, height: 720 });
  });
});
