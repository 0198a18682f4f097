import { execFileSync } from 'node:child_process';
import { promises as fs, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keepEventStill, STILL_NEAR_MS, type EventStillDeps } from '../../../src/capture/event-still.js';
import type { RawPicture } from '../../../src/capture/types.js';
import { systemClock } from '../../../src/core/clock.js';
import { initialState, StateStore } from '../../../src/state/store.js';
import { OnceRunner } from '../../../src/supervisor/runner.js';

/**
 * An event's picture, with the real ffmpeg: the lens's full-size still when it was taken near the
 * event's frame, else the detector's own frame encoded — so a start right after capture restarted
 * (no still yet) has its picture. Real files, a real card directory.
 */
const T0 = 1_800_000_000_000;
let dir: string;
let runner: OnceRunner;

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'camd-event-still-'));
  await fs.mkdir(join(dir, 'run'));
  await fs.mkdir(join(dir, 'card'));
  runner = new OnceRunner({ clock: systemClock, log: pino({ level: 'silent' }), state: new StateStore(initialState(1, 'x', 0)) });
});
afterEach(async () => {
  await runner.stopAll();
  await fs.rm(dir, { recursive: true, force: true });
});

/** A 64x36 frame: left half red, right half blue. */
function picture(ts = T0): RawPicture {
  const width = 64;
  const height = 36;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (x < width / 2) data[i] = 230;
      else data[i + 2] = 230;
    }
  }
  return { width, height, data, ts };
}

function deps(over: Partial<EventStillDeps> = {}): EventStillDeps {
  return { run: (spec) => runner.run(spec), latestFile: join(dir, 'run', 'snap-wide.jpg'), tmpDir: join(dir, 'run'), ...over };
}

/** Decodes a JPEG with ffmpeg: its size and the mean RGB of its left and right halves. */
function look(file: string): { width: number; height: number; left: number[]; right: number[] } {
  const probe = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file]).toString().trim();
  const [width, height] = probe.split(',').map(Number) as [number, number];
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  const mean = (x0: number, x1: number): number[] => {
    const sum = [0, 0, 0];
    let n = 0;
    for (let y = 4; y < height - 4; y++) {
      for (let x = x0; x < x1; x++) {
        for (let c = 0; c < 3; c++) sum[c]! += raw[(y * width + x) * 3 + c]!;
        n++;
      }
    }
    return sum.map((v) => Math.round(v / n));
  };
  return { width, height, left: mean(4, width / 2 - 4), right: mean(width / 2 + 4, width - 4) };
}

describe('event still', () => {
  it('no still yet (capture just restarted): the confirming frame is encoded, the picture is the frame', async () => {
    const s = await keepEventStill({ lens: 'wide', eventId: 'ev1', ts: T0, picture: picture() }, deps());
    expect(s).toMatchObject({ source: 'frame', ts: T0, width: 64, height: 36 });
    const file = join(dir, 'run', 'out.jpg');
    await fs.writeFile(file, Buffer.from(s.jpeg!, 'base64'));
    const seen = look(file);
    expect([seen.width, seen.height]).toEqual([64, 36]);
    expect(seen.left[0]).toBeGreaterThan(180); // red stays red: RGB order kept
    expect(seen.left[2]).toBeLessThan(60);
    expect(seen.right[2]).toBeGreaterThan(180);
    expect(await fs.readdir(join(dir, 'run'))).toEqual(['out.jpg']); // scratch files removed
  });

  it('with a card: kept there under the event id, with an annotated copy whose box is drawn', async () => {
    const card = join(dir, 'card');
    const box = { x: 0.6, y: 0.2, w: 0.3, h: 0.6 };
    const s = await keepEventStill({ lens: 'wide', eventId: 'ev2', ts: T0, picture: picture(), box }, deps({ cardMount: card }));
    expect(s.jpeg).toBeUndefined();
    expect(s.path).toMatch(/^camd\/snapshots\/wide\/.+\/1800000000000-ev2\.jpg$/);
    expect(s.annotated?.path).toMatch(/1800000000000-ev2\.annotated\.jpg$/);
    const plain = look(join(card, s.path!));
    const annotated = look(join(card, s.annotated!.path));
    // The box (red) is on the blue half: that half turns redder in the annotated copy only.
    expect(annotated.right[0]! - plain.right[0]!).toBeGreaterThan(15);
    expect(Math.abs(annotated.left[0]! - plain.left[0]!)).toBeLessThan(10);
  });

  it('a still taken near the frame is used (more pixels); a stale one is not', async () => {
    const still = deps().latestFile;
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=green:s=320x180', '-frames:v', '1', still]);
    utimesSync(still, (T0 + 400) / 1000, (T0 + 400) / 1000);
    const near = await keepEventStill({ lens: 'wide', eventId: 'ev3', ts: T0, picture: picture() }, deps());
    expect(near).toMatchObject({ source: 'still', ts: T0 + 400 });

    utimesSync(still, (T0 - STILL_NEAR_MS - 2000) / 1000, (T0 - STILL_NEAR_MS - 2000) / 1000);
    const far = await keepEventStill({ lens: 'wide', eventId: 'ev4', ts: T0, picture: picture() }, deps());
    expect(far).toMatchObject({ source: 'frame', ts: T0 });
    await expect(keepEventStill({ lens: 'wide', eventId: 'ev5', ts: T0 }, deps())).rejects.toThrow(/latest picture is 4 s from the event/);
  });

  it('no card and a picture too big for the event: re-encoded smaller until it fits, and said so', async () => {
    // A noisy 1280x720 frame: its JPEG is far larger than an event carries.
    const width = 1280;
    const height = 720;
    const data = new Uint8Array(width * height * 3);
    let x = 7;
    for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const s = await keepEventStill({ lens: 'wide', eventId: 'ev8', ts: T0, picture: { width, height, data, ts: T0 }, maxInlineChars: 28_000 }, deps());
    expect(s.reduced).toBe(true);
    expect(s.jpeg!.length).toBeLessThanOrEqual(28_000);
    expect(s.width).toBeLessThan(width);
    expect(s.height! / s.width!).toBeCloseTo(height / width, 1);
    const file = join(dir, 'run', 'small.jpg');
    await fs.writeFile(file, Buffer.from(s.jpeg!, 'base64'));
    expect(look(file).width).toBe(s.width);
    // Small enough already: sent as it is.
    const ok = await keepEventStill({ lens: 'wide', eventId: 'ev9', ts: T0, picture: picture(), maxInlineChars: 28_000 }, deps());
    expect(ok.reduced).toBeUndefined();
  });

  it('nothing at all: a precise error; a picture of the wrong size is refused before ffmpeg runs', async () => {
    await expect(keepEventStill({ lens: 'ptz', eventId: 'ev6', ts: T0 }, deps())).rejects.toThrow('no picture from the ptz lens yet');
    const bad = { ...picture(), data: new Uint8Array(10) };
    await expect(keepEventStill({ lens: 'wide', eventId: 'ev7', ts: T0, picture: bad }, deps())).rejects.toThrow(/10 bytes, 64x36 RGB needs 6912/);
    expect(await fs.readdir(join(dir, 'run'))).toEqual([]);
  });
});
