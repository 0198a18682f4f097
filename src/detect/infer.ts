import { decodeOutput, INPUT_SIZE, nms, type RawDetection } from './fastestdet.js';
import { clampCrop, fillInput, toFrameBox } from './preprocess.js';
import type { CropPlan, FrameDetection, RgbFrame } from './types.js';

/**
 * One frame through the model: every crop is preprocessed, run and decoded, boxes are mapped
 * back to the frame and duplicates from overlapping crops removed by the same per-class NMS.
 * `run` is the model call (ORT in the worker, a fake in unit tests), so this stays pure.
 */
export type RunModel = (input: Float32Array) => Promise<Float32Array>;

export interface CropTiming {
  prepMs: number;
  inferMs: number;
  decodeMs: number;
}

export interface FrameInference {
  detections: FrameDetection[];
  timings: CropTiming[];
}

export async function detectCrops(
  frame: RgbFrame,
  crops: readonly CropPlan[],
  run: RunModel,
  floor: number,
  input: Float32Array = new Float32Array(3 * INPUT_SIZE * INPUT_SIZE),
  now: () => number = () => performance.now(),
): Promise<FrameInference> {
  const all: RawDetection[] = [];
  const timings: CropTiming[] = [];
  for (const plan of crops) {
    const t0 = now();
    const crop = clampCrop(plan, frame.width, frame.height);
    const pl = fillInput(frame, crop, input, INPUT_SIZE);
    const t1 = now();
    const out = await run(input);
    const t2 = now();
    for (const d of nms(decodeOutput(out, floor))) {
      const b = toFrameBox(d, crop, pl, INPUT_SIZE, frame.width, frame.height);
      if (b.w <= 0 || b.h <= 0) continue;
      all.push({ x1: b.x, y1: b.y, x2: b.x + b.w, y2: b.y + b.h, score: d.score, coco: d.coco });
    }
    timings.push({ prepMs: t1 - t0, inferMs: t2 - t1, decodeMs: now() - t2 });
  }
  const kept = crops.length > 1 ? nms(all) : all;
  return {
    detections: kept.map((d) => ({ coco: d.coco, score: d.score, box: { x: d.x1, y: d.y1, w: d.x2 - d.x1, h: d.y2 - d.y1 } })),
    timings,
  };
}
