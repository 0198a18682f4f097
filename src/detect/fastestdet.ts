import type { ObjectClass } from './types.js';

/**
 * FastestDet output decoding, following the author's reference code (dog-qiuqiu/FastestDet,
 * `example/ncnn/FastestDet.cpp`; the same maths as `utils/tool.py::handle_preds`):
 *
 * - output is 1 x (5 + 80) x 22 x 22, channel-major; the model already applies sigmoid to the
 *   objectness channel and softmax over the 80 class channels (`DetectHead`);
 * - per cell: class = argmax of channels 5..84, score = cls^0.4 * obj^0.6, kept when
 *   score > threshold;
 * - centre = (cell + tanh(tx|ty)) / grid, size = sigmoid(tw|th) as a fraction of the input;
 * - greedy NMS per class: sorted by score, drop a box whose IoU with a kept box of the same
 *   class is > 0.45.
 *
 * The reference truncates boxes to integer pixels; we stay in floats (normalised to the model
 * input), which only removes rounding.
 */
export const INPUT_SIZE = 352;
export const GRID = 22;
export const NUM_CLASSES = 80;
export const NMS_IOU = 0.45;

/** Box in model-input coordinates normalised to 0..1 (may extend slightly outside). */
export interface RawDetection {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  coco: number;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const tanh = (x: number): number => 2 / (1 + Math.exp(-2 * x)) - 1;

/**
 * Decodes one output tensor (`out.length === (5 + classes) * gridH * gridW`). `threshold` is the
 * reference's strict `score > thresh`; callers pass the lowest threshold any sensitivity can
 * ask for and filter per class afterwards.
 */
export function decodeOutput(
  out: Float32Array,
  threshold: number,
  gridW = GRID,
  gridH = GRID,
  numClasses = NUM_CLASSES,
): RawDetection[] {
  const plane = gridW * gridH;
  if (out.length !== (5 + numClasses) * plane) {
    throw new Error(`FastestDet output has ${out.length} values, expected ${(5 + numClasses) * plane}`);
  }
  const res: RawDetection[] = [];
  for (let h = 0; h < gridH; h++) {
    for (let w = 0; w < gridW; w++) {
      const i = h * gridW + w;
      const obj = out[i]!;
      // cls <= 1 after softmax, so obj^0.6 bounds the score: skip the class scan when it cannot pass.
      const objTerm = Math.pow(obj, 0.6);
      if (!(objTerm > threshold)) continue;
      let best = 0;
      let category = 0;
      for (let c = 0; c < numClasses; c++) {
        const v = out[(5 + c) * plane + i]!;
        if (v > best) {
          best = v;
          category = c;
        }
      }
      const score = Math.pow(best, 0.4) * objTerm;
      if (!(score > threshold)) continue;
      const cx = (w + tanh(out[plane + i]!)) / gridW;
      const cy = (h + tanh(out[2 * plane + i]!)) / gridH;
      const bw = sigmoid(out[3 * plane + i]!);
      const bh = sigmoid(out[4 * plane + i]!);
      res.push({ x1: cx - bw / 2, y1: cy - bh / 2, x2: cx + bw / 2, y2: cy + bh / 2, score, coco: category });
    }
  }
  return res;
}

function rawIou(a: RawDetection, b: RawDetection): number {
  if (a.x1 > b.x2 || a.x2 < b.x1 || a.y1 > b.y2 || a.y2 < b.y1) return 0;
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy per-class NMS exactly as the reference: highest score first, suppress IoU > limit. */
export function nms(boxes: readonly RawDetection[], iouLimit = NMS_IOU): RawDetection[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const picked: RawDetection[] = [];
  for (const cand of sorted) {
    let keep = true;
    for (const p of picked) {
      if (p.coco === cand.coco && rawIou(cand, p) > iouLimit) {
        keep = false;
        break;
      }
    }
    if (keep) picked.push(cand);
  }
  return picked;
}

/** COCO index → product class. Bicycle and motorbike count as vehicles (issue text). */
const COCO_MAP: ReadonlyMap<number, ObjectClass> = new Map<number, ObjectClass>([
  [0, 'human'], // person
  [1, 'vehicle'], // bicycle
  [2, 'vehicle'], // car
  [3, 'vehicle'], // motorbike
  [5, 'vehicle'], // bus
  [7, 'vehicle'], // truck
]);

export function cocoToClass(coco: number): ObjectClass | null {
  return COCO_MAP.get(coco) ?? null;
}
