/**
 * Shared shapes of the detection engine. Coordinates that leave a module are always
 * *normalised* to the full field of view of one lens — (0,0) top left, (1,1) bottom right — so
 * the small gray frame used for change detection and the larger RGB frame used for crops can
 * have different resolutions without anyone converting pixels between them.
 */

import type { Box, ObjectClass } from '../domain/types.js';

// Shared with alarm, storage and PTZ: defined once in src/domain/types.ts.
export { OBJECT_CLASSES, type Box, type DetectionType, type ObjectClass } from '../domain/types.js';

/** One 8-bit luma plane, row-major, `data.length === width * height`. */
export interface GrayFrame {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Packed RGB24, row-major, `data.length === width * height * 3`. */
export interface RgbFrame {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * What the capture tap hands the pipeline for one lens and one instant: a small gray frame for
 * the change detector (≈160x90) and an RGB frame of the same field of view (≈640x360) from
 * which square crops are cut for the object detector. `ts` is epoch ms of the capture.
 */
export interface LensFrame {
  ts: number;
  gray: GrayFrame;
  rgb: RgbFrame;
}

/** An RGB frame kept past the tap's handlers (its own buffer), with the time it shows. */
export interface Picture extends RgbFrame {
  ts: number;
}

/** A source rectangle in RGB-frame pixels and how it is fitted into the square model input. */
export interface CropPlan {
  x: number;
  y: number;
  w: number;
  h: number;
  /** `stretch` squashes to the square (reference behaviour); `letterbox` keeps the aspect. */
  fit: 'stretch' | 'letterbox';
}

/** A decoded detection in frame-normalised coordinates, before sensitivity filtering. */
export interface FrameDetection {
  /** COCO class index 0..79. */
  coco: number;
  score: number;
  box: Box;
}

/** A detection the product cares about (human or vehicle). */
export interface ObjectDetection {
  cls: ObjectClass;
  score: number;
  box: Box;
}

export type Polygon = ReadonlyArray<readonly [number, number]>;

export function iou(a: Box, b: Box): number {
  const ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

export function unionBox(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}
