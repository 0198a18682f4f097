import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MEDIA } from '../harness/boot.js';
import { planCrops } from '../../src/detect/crops.js';
import { DetectorHost } from '../../src/detect/detector-host.js';
import { decodeImage } from '../../src/detect/stills.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The capture tap hands out Node Buffers from a pool, valid only while the handlers run. The
 * detection service passes them straight to the pipeline (no copy of its own), so the host must
 * copy what it sends to its worker into a buffer of its own: transferring a Buffer view's
 * ArrayBuffer would detach the tap's pooled frame under it.
 */
describe('detector host fed with the tap\'s Buffers', () => {
  let host: DetectorHost;
  beforeAll(async () => {
    host = await DetectorHost.open({ threads: 1 });
  });
  afterAll(async () => {
    await host.close();
  });

  it('leaves a pooled Buffer intact and finds the same as with a private copy', async () => {
    const still = await decodeImage(join(MEDIA, 'person.jpg'));
    // Like the tap's FramePool: allocUnsafeSlow, a buffer of its own, reused for later frames.
    const pooled = Buffer.allocUnsafeSlow(still.data.length);
    pooled.set(still.data);
    const crops = planCrops('tiles', still.width, still.height, []);
    const fromBuffer = await host.detect({ lens: 'a', frame: { width: still.width, height: still.height, data: pooled }, crops })!;
    expect(pooled.buffer.byteLength).toBe(still.data.length);
    expect(pooled.equals(Buffer.from(still.data))).toBe(true);
    const fromCopy = await host.detect({ lens: 'b', frame: { width: still.width, height: still.height, data: new Uint8Array(still.data) }, crops })!;
    expect(fromBuffer.detections).toEqual(fromCopy.detections);
    expect(fromBuffer.detections.some((d) => d.coco === 0 && d.score > 0.5)).toBe(true);
  });
});
