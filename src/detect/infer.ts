import { decodeOutput, INPUT_SIZE, nms, type RawDetection } from './fastestdet.js';
import { clampCrop, fillInput, toFrameBox, type Placement } from './preprocess.js';
import type { CropPlan, FrameDetection, RgbFrame } from './types.js';

/**
 * One frame through the model: every crop is preprocessed, run and decoded, boxes are mapped
 * back to the frame and duplicates from overlapping crops removed by the same per-class NMS.
 * `run` is the model call (ORT in the worker, a fake in unit tests), so this stays pure.
 */
export type RunModel = (input: Float32Array) => Promise<Float32Array>;

/**
 * Writes one crop's model input and says where the crop landed. The worker passes the WASM SIMD
 * version (resize-simd.ts); given a plain buffer, `detectCrops` uses `fillInput()` into it.
 */
export type InputFiller = (frame: RgbFrame, crop: CropPlan) => { input: Float32Array; placement: Placement };

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
  input: Float32Array | InputFiller = new Float32Array(3 * INPUT_SIZE * INPUT_SIZE),
  now: () => number = () => performance.now(),
): Promise<FrameInference> {
  const fill: InputFiller = typeof input === 'function' ? input : (f, c) => ({ input, placement: fillInput(f, c, input, INPUT_SIZE) });
  const all: RawDetection[] = [];
  const timings: CropTiming[] = [];
  for (const plan of crops) {
    const t0 = now();
    const crop = clampCrop(plan, frame.width, frame.height);
    const { input: data, placement: pl } = fill(frame, crop);
    const t1 = now();
    const out = await run(data);
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
