import { runFfmpeg } from '../core/ffmpeg.js';
import { fitWidth, probeClip } from './clip-reader.js';
import { planCrops, type FeedMode } from './crops.js';
import type { ObjectDetector } from './detector-host.js';
import { cocoToClass } from './fastestdet.js';
import type { FrameDetection, ObjectClass, RgbFrame } from './types.js';

/**
 * Single images through the object detector (no change gate: a still has no motion). Used by
 * the eval tool for .jpg/.png input and by the integration tests on the sample stills.
 */
export async function decodeImage(path: string, maxWidth = 640): Promise<RgbFrame> {
  const size = fitWidth(await probeClip(path), maxWidth);
  const stdout = await runFfmpeg(
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', path, '-frames:v', '1', '-vf', `scale=${size.width}:${size.height}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const data = new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length);
  if (data.length !== size.width * size.height * 3) throw new Error(`${path}: decoded ${data.length} bytes, expected ${size.width * size.height * 3}`);
  return { ...size, data };
}

export interface StillDetection extends FrameDetection {
  cls: ObjectClass | null;
}

/** `crops` mode has no motion on a still, so it looks at the whole image as tiles. */
export async function detectStill(detector: ObjectDetector, frame: RgbFrame, feed: FeedMode): Promise<StillDetection[]> {
  const mode: FeedMode = feed === 'crops' ? 'tiles' : feed;
  const crops = planCrops(mode, frame.width, frame.height, []);
  const pending = detector.detect({ lens: 'still', frame, crops });
  if (!pending) throw new Error('detector busy');
  const r = await pending;
  return r.detections.map((d) => ({ ...d, cls: cocoToClass(d.coco) })).sort((a, b) => b.score - a.score);
}
