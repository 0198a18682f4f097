import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { INPUT_SIZE } from './fastestdet.js';
import { detectCrops } from './infer.js';
import type { CropPlan, FrameDetection } from './types.js';

/**
 * Inference worker thread: owns the ONNX Runtime session, so a 5–70 ms inference never stalls
 * the daemon's event loop. Protocol (structured clone; frame bytes are in one of the host's
 * SharedArrayBuffer slots, which the worker must not read after it replied):
 *   workerData: { model: Uint8Array (already hash-checked by the host), threads: number }
 *   → { type: 'ready' } | { type: 'fatal', message }
 *   ← { type: 'detect', id, width, height, data: Uint8Array (RGB24), crops, floor }
 *   → { type: 'result', id, detections, inferMs, prepMs, decodeMs } | { type: 'error', id, message }
 */
export interface WorkerInit {
  model: Uint8Array;
  threads: number;
}

export interface DetectMessage {
  type: 'detect';
  id: number;
  width: number;
  height: number;
  data: Uint8Array;
  crops: CropPlan[];
  floor: number;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; detections: FrameDetection[]; inferMs: number; prepMs: number; decodeMs: number }
  | { type: 'error'; id: number; message: string };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const init = workerData as WorkerInit;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.model, {
      intraOpNumThreads: init.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    port.postMessage({ type: 'fatal', message: `cannot load the model: ${String(err)}` } satisfies WorkerReply);
    return;
  }
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  const input = new Float32Array(3 * INPUT_SIZE * INPUT_SIZE);
  let queue: Promise<void> = Promise.resolve();
  const run = async (data: Float32Array): Promise<Float32Array> => {
    const res = await session.run({ [inputName]: new ort.Tensor('float32', data, [1, 3, INPUT_SIZE, INPUT_SIZE]) });
    return res[outputName]!.data as Float32Array;
  };
  port.on('message', (msg: DetectMessage) => {
    if (msg.type !== 'detect') return;
    // Requests are handled strictly one after another: the input buffer is shared.
    queue = queue.then(async () => {
      try {
        const r = await detectCrops({ width: msg.width, height: msg.height, data: msg.data }, msg.crops, run, msg.floor, input);
        const sum = (k: 'prepMs' | 'inferMs' | 'decodeMs'): number => r.timings.reduce((a, t) => a + t[k], 0);
        port.postMessage({ type: 'result', id: msg.id, detections: r.detections, inferMs: sum('inferMs'), prepMs: sum('prepMs'), decodeMs: sum('decodeMs') } satisfies WorkerReply);
      } catch (err) {
        port.postMessage({ type: 'error', id: msg.id, message: String(err) } satisfies WorkerReply);
      }
    });
  });
  port.postMessage({ type: 'ready' } satisfies WorkerReply);
}

void main();
