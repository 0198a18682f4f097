import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CamdError } from '../../src/core/errors.js';
import { planCrops } from '../../src/detect/crops.js';
import { DetectorHost } from '../../src/detect/detector-host.js';
import { DEFAULT_MODEL_PATH } from '../../src/detect/model.js';
import type { RgbFrame } from '../../src/detect/types.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

const frame: RgbFrame = { width: 640, height: 360, data: new Uint8Array(640 * 360 * 3).fill(90) };

describe('detector host: model checks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'camd-model-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a missing model with a clear reason', async () => {
    const err = await DetectorHost.open({ modelPath: join(dir, 'nope.onnx') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CamdError);
    expect((err as CamdError).code).toBe('unavailable');
    expect((err as Error).message).toMatch(/nope\.onnx: file not found/);
  });

  it('refuses a model whose bytes differ from the shipped one (one byte flipped)', async () => {
    const bytes = await readFile(DEFAULT_MODEL_PATH);
    const mid = bytes.length >> 1;
    bytes[mid] = bytes[mid]! ^ 0xff;
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, bytes);
    const err = await DetectorHost.open({ modelPath: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CamdError);
    expect((err as Error).message).toMatch(/SHA-256 [0-9a-f]{64} does not match/);
  });

  it('accepts an exact copy of the model', async () => {
    const copy = join(dir, 'copy.onnx');
    await copyFile(DEFAULT_MODEL_PATH, copy);
    const host = await DetectorHost.open({ modelPath: copy });
    expect(host.state).toBe('ready');
    await host.close();
  });
});

describe('detector host: worker and back-pressure', () => {
  let host: DetectorHost;
  beforeAll(async () => {
    host = await DetectorHost.open({ threads: 1 });
  });
  afterAll(async () => {
    await host.close();
  });

  it('refuses a second request for a lens that is still busy, counts it, and serves another lens', async () => {
    const crops = planCrops('tiles', frame.width, frame.height, []);
    const first = host.detect({ lens: 'wide', frame, crops });
    expect(first).not.toBeNull();
    expect(host.detect({ lens: 'wide', frame, crops })).toBeNull();
    const other = host.detect({ lens: 'ptz', frame, crops });
    expect(other).not.toBeNull();
    expect(host.detect({ lens: 'third', frame, crops })).toBeNull(); // maxInFlight = 2
    const [a, b] = await Promise.all([first, other]);
    expect(a!.crops).toBe(2);
    expect(b!.crops).toBe(2);
    expect(host.stats()).toMatchObject({ requests: 2, completed: 2, droppedBusy: 2, crops: 4 });
    expect(host.detect({ lens: 'wide', frame, crops })).not.toBeNull(); // free again
  });

  it('keeps the main thread free while the model runs', async () => {
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    await host.detect({ lens: 'ptz', frame, crops: planCrops('tiles', frame.width, frame.height, []) });
    spinning = false;
    expect(turns).toBeGreaterThan(1);
  });

  it('does not touch the caller\'s frame buffer (the capture tap reuses it)', async () => {
    const mine: RgbFrame = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(7) };
    await host.detect({ lens: 'buf', frame: mine, crops: [{ x: 0, y: 16, w: 32, h: 32, fit: 'letterbox' }] });
    expect(mine.data.byteLength).toBe(64 * 64 * 3);
    expect(mine.data.every((v) => v === 7)).toBe(true);
  });
});
