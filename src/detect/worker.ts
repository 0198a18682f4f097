import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { INPUT_SIZE } from './fastestdet.js';
import { detectCrops, type InputFiller } from './infer.js';
import { SimdResizer } from './resize-simd.js';
import type { CropPlan, FrameDetection } from './types.js';

/**
 * Inference worker thread: owns the ONNX Runtime session, so a 5–70 ms inference never stalls
 * the daemon's event loop. Protocol (structured clone; frame bytes are in one of the host's
 * SharedArrayBuffer slots, which the worker must not read after it replied):
 *   workerData: { model: Uint8Array (already hash-checked by the host), threads: number }
 *   → { type: 'ready' } | { type: 'fatal', message }   (after 'fatal' the worker exits by itself)
 *   ← { type: 'detect', id, width, height, data: Uint8Array (RGB24), crops, floor }
 *   → { type: 'result', id, detections, inferMs, prepMs, decodeMs } | { type: 'error', id, message }
 *   ← { type: 'close' }
 *   → { type: 'closed' }, then the thread exits with code 0
 *
 * Shutdown is the worker's own job, never `worker.terminate()` from outside: onnxruntime-node's
 * `session.run()` is a synchronous N-API call on this thread, and a thread stopped while it is
 * inside it (terminate(), or process exit with the worker alive) aborts the whole process —
 * the binding builds its result after the environment began terminating, every N-API call then
 * fails, and node-addon-api's `Napi::Error::ThrowAsJavaScriptException` rethrows as a C++
 * exception that nothing catches ("terminate called after throwing an instance of
 * 'Napi::Error'", SIGABRT, exit 134; nodejs/node-addon-api#902, daintreehq/daintree#12577).
 * So 'close' is queued behind the requests already accepted: the last run returns, the session
 * is released explicitly (nothing is left to a finalizer at thread teardown), then we exit.
 */
export interface WorkerInit {
  model: Uint8Array;
  threads: number;
  /** 'js' = preprocess.ts's loops instead of the WASM SIMD kernel (the bench compares them). */
  preprocess?: 'wasm' | 'js';
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

export interface CloseMessage {
  type: 'close';
}

export type HostMessage = DetectMessage | CloseMessage;

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'closed' }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; detections: FrameDetection[]; inferMs: number; prepMs: number; decodeMs: number }
  | { type: 'error'; id: number; message: string };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const init = workerData as WorkerInit;
  let session: ort.InferenceSession | undefined;
  let closing = false;
  /**
   * Everything that touches the session — loading it, each request, releasing it — is one link
   * of this chain, strictly one after another: the input buffer is shared, and `release()` must
   * never overlap a `run()`.
   */
  let chain: Promise<void> = Promise.resolve();
  // Preprocessing in WASM SIMD (2–4x cheaper than the JS loops, same values to ~1e-7);
  // the JS version where this Node has no WebAssembly SIMD.
  const simd = init.preprocess === 'js' ? null : SimdResizer.create();
  const input: Float32Array | InputFiller = simd ? (frame, crop) => simd.fill(frame, crop, INPUT_SIZE) : new Float32Array(3 * INPUT_SIZE * INPUT_SIZE);

  const exit = (): void => {
    // Only ever reached from plain JS with no ONNX call on the stack and no session left.
    port.close();
    process.exit(0);
  };

  const detect = async (s: ort.InferenceSession, msg: DetectMessage): Promise<void> => {
    const inputName = s.inputNames[0]!;
    const outputName = s.outputNames[0]!;
    const run = async (data: Float32Array): Promise<Float32Array> => {
      const res = await s.run({ [inputName]: new ort.Tensor('float32', data, [1, 3, INPUT_SIZE, INPUT_SIZE]) });
      return res[outputName]!.data as Float32Array;
    };
    try {
      const r = await detectCrops({ width: msg.width, height: msg.height, data: msg.data }, msg.crops, run, msg.floor, input);
      const sum = (k: 'prepMs' | 'inferMs' | 'decodeMs'): number => r.timings.reduce((a, t) => a + t[k], 0);
      port.postMessage({ type: 'result', id: msg.id, detections: r.detections, inferMs: sum('inferMs'), prepMs: sum('prepMs'), decodeMs: sum('decodeMs') } satisfies WorkerReply);
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: String(err) } satisfies WorkerReply);
    }
  };

  const release = async (): Promise<void> => {
    const s = session;
    session = undefined;
    try {
      await s?.release();
    } catch {
      // Nothing useful to report: the thread ends now either way and the host only waits for it.
    }
    port.postMessage({ type: 'closed' } satisfies WorkerReply);
    exit();
  };

  // Listening before the model loads: a 'close' that arrives meanwhile (a start timeout, the
  // daemon stopping during boot) waits for the load to finish, then releases.
  port.on('message', (msg: HostMessage) => {
    if (msg.type === 'close') {
      if (closing) return;
      closing = true;
      chain = chain.then(release);
      return;
    }
    if (msg.type !== 'detect') return;
    if (closing || !session) {
      port.postMessage({ type: 'error', id: msg.id, message: 'inference worker is closing' } satisfies WorkerReply);
      return;
    }
    const s = session;
    chain = chain.then(() => detect(s, msg));
  });

  chain = ort.InferenceSession.create(init.model, {
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  }).then(
    (s) => {
      session = s;
      if (!closing) port.postMessage({ type: 'ready' } satisfies WorkerReply);
    },
    (err: unknown) => {
      port.postMessage({ type: 'fatal', message: `cannot load the model: ${String(err)}` } satisfies WorkerReply);
      closing = true;
      exit();
    },
  );
}

void main();
