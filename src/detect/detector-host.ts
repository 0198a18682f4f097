import { createRequire } from 'node:module';
import { setTimeout as realTimeout, clearTimeout as clearRealTimeout } from 'node:timers';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CamdError, errorMessage } from '../core/errors.js';
import { DEFAULT_MODEL_PATH, loadVerifiedModel, MODEL_SHA256 } from './model.js';
import { SCORE_FLOOR } from './sensitivity.js';
import type { CropPlan, FrameDetection, RgbFrame } from './types.js';
import type { DetectMessage, HostMessage, WorkerInit, WorkerReply } from './worker.js';

/**
 * Main-thread side of the object detector. Verifies the model's SHA-256, starts the inference
 * worker and hands it frames. Back-pressure is by refusal, never by queueing: while a lens
 * has a request in flight (or `maxInFlight` requests are pending overall) `detect()` returns
 * null and counts the drop — the caller simply skips that frame (Frigate's "full queue drops
 * and counts").
 */
export interface DetectRequest {
  lens: string;
  frame: RgbFrame;
  crops: readonly CropPlan[];
}

export interface DetectResult {
  detections: FrameDetection[];
  /** Model time summed over the crops, and the worker's pre/post-processing time. */
  inferMs: number;
  prepMs: number;
  decodeMs: number;
  crops: number;
}

/** What the pipeline needs; the host implements it, unit tests fake it. */
export interface ObjectDetector {
  /** null = refused because busy: drop the frame. Rejects only when the detector failed. */
  detect(req: DetectRequest): Promise<DetectResult> | null;
}

export interface DetectorHostOptions {
  modelPath?: string;
  expectedSha256?: string;
  /** ONNX Runtime intra-op threads (1 leaves the other cores to ffmpeg and the second lens). */
  threads?: number;
  /** Model-input preprocessing in the worker: WASM SIMD (default) or the JS loops (for the bench). */
  preprocess?: 'wasm' | 'js';
  /** Lowest score decoded; defaults to the lowest any sensitivity accepts. */
  floor?: number;
  /** Requests pending over all lenses (one per lens at most in any case). */
  maxInFlight?: number;
  startTimeoutMs?: number;
  /**
   * How long close() waits for the worker to finish its run, release the session and exit
   * before it falls back to terminate(). A run takes 5–70 ms (a few hundred on a loaded
   * board): only a hung worker reaches this.
   */
  closeTimeoutMs?: number;
}

export interface DetectorStats {
  requests: number;
  completed: number;
  failed: number;
  droppedBusy: number;
  crops: number;
  inferMsTotal: number;
}

export type DetectorState = 'ready' | 'failed' | 'closed';

interface Pending {
  lens: string;
  crops: number;
  slot: FrameSlot;
  resolve: (r: DetectResult) => void;
  reject: (e: Error) => void;
}

/**
 * A frame buffer shared with the worker (one per request in flight, reused): the host copies the
 * rows a request needs into a free slot and posts a view of it; the slot is free again when the
 * reply (or the failure) comes back. Transferring a fresh 700 KB ArrayBuffer per frame instead
 * cost ~0.9 ms per request in allocation and cross-thread hand-over; the copy into a slot ~0.05 ms.
 */
interface FrameSlot {
  buf: Uint8Array;
  busy: boolean;
}

/**
 * Stops the worker the only safe way: it is asked to close, answers the requests it already
 * has, releases its ONNX session and exits by itself (worker.ts). Never `terminate()` first:
 * stopping the thread while it is inside the synchronous `session.run()` aborts the process
 * (worker.ts explains why). `exited` must have been taken right after the worker was created.
 *
 * The fallback for a worker that does not exit in time is terminate(), and close() then
 * rejects so the daemon logs it. The timer is node:timers' own, not the global one, so a test's
 * fake timers cannot fire it early (the worker is a real thread on real time).
 */
async function stopWorker(worker: Worker, exited: Promise<number>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = realTimeout(() => resolve('late'), timeoutMs);
    timer.unref();
  });
  try {
    worker.postMessage({ type: 'close' } satisfies HostMessage);
    if ((await Promise.race([exited, late])) !== 'late') return;
  } finally {
    clearRealTimeout(timer);
  }
  await worker.terminate();
  throw new CamdError('failed', `inference worker did not stop within ${timeoutMs} ms: terminated`);
}

/**
 * Starts the worker script. Built, it is plain JS. From source (tsx, vitest) the worker is
 * TypeScript: a tiny bootstrap registers tsx's loader inside the worker thread first, because
 * loader flags given to the parent do not reliably reach worker threads on Node 20.
 */
function startWorker(workerData: WorkerInit, transferList: ArrayBuffer[]): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  if (!fromSource) return new Worker(new URL('./worker.js', import.meta.url), { workerData, transferList });
  const api = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData, transferList });
}

export class DetectorHost implements ObjectDetector {
  private readonly pending = new Map<number, Pending>();
  private readonly busyLenses = new Map<string, number>();
  private readonly failureListeners = new Set<(err: Error) => void>();
  private readonly slots: FrameSlot[] = [];
  private nextId = 1;
  private current: DetectorState = 'ready';
  private closing: Promise<void> | undefined;
  private readonly counters: DetectorStats = { requests: 0, completed: 0, failed: 0, droppedBusy: 0, crops: 0, inferMsTotal: 0 };

  private constructor(
    private readonly worker: Worker,
    /** Settles when the thread has ended (taken before the worker could possibly exit). */
    private readonly exited: Promise<number>,
    private readonly floor: number,
    private readonly maxInFlight: number,
    private readonly closeTimeoutMs: number,
  ) {
    worker.on('message', (m: WorkerReply) => this.onReply(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (this.current === 'ready') this.fail(new Error(`inference worker exited with code ${code}`));
    });
  }

  /** Verifies the model and starts the worker; rejects with a CamdError naming the reason. */
  static async open(opts: DetectorHostOptions = {}): Promise<DetectorHost> {
    const model = await loadVerifiedModel(opts.modelPath ?? DEFAULT_MODEL_PATH, opts.expectedSha256 ?? MODEL_SHA256);
    const copy = new Uint8Array(model);
    const init: WorkerInit = { model: copy, threads: Math.max(1, opts.threads ?? 1), preprocess: opts.preprocess ?? 'wasm' };
    const worker = startWorker(init, [copy.buffer]);
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    const started = new Promise<void>((resolve, reject) => {
      // Real time (node:timers), not the global timers a test may fake: advancing fake time
      // past this while the thread loads the model once "timed out" a healthy worker.
      const timer = realTimeout(() => done(new CamdError('unavailable', 'inference worker did not start in time')), opts.startTimeoutMs ?? 30_000);
      const done = (err?: Error): void => {
        clearRealTimeout(timer);
        worker.off('message', onMsg);
        worker.off('error', onErr);
        worker.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      const onMsg = (m: WorkerReply): void => {
        if (m.type === 'ready') done();
        else if (m.type === 'fatal') done(new CamdError('unavailable', m.message));
      };
      const onErr = (err: Error): void => done(new CamdError('unavailable', `inference worker failed to start: ${errorMessage(err)}`));
      const onExit = (code: number): void => done(new CamdError('unavailable', `inference worker exited during start (code ${code})`));
      worker.on('message', onMsg);
      worker.on('error', onErr);
      worker.on('exit', onExit);
    });
    try {
      await started;
    } catch (err) {
      // A worker that timed out is probably still loading the model inside a native call: it
      // is asked to close (it does so once the load returns) rather than terminated mid-call.
      // Its failure is the one being reported: a later 'error' must not become an uncaught one.
      worker.on('error', () => undefined);
      await stopWorker(worker, exited, closeTimeoutMs).catch(() => undefined);
      throw err;
    }
    return new DetectorHost(worker, exited, opts.floor ?? SCORE_FLOOR, Math.max(1, opts.maxInFlight ?? 2), closeTimeoutMs);
  }

  get state(): DetectorState {
    return this.current;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Called once if the worker dies; the daemon can re-create the host (with a restart limit). */
  onFailure(listener: (err: Error) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  stats(): DetectorStats {
    return { ...this.counters };
  }

  detect(req: DetectRequest): Promise<DetectResult> | null {
    if (this.current !== 'ready') return Promise.reject(new CamdError('unavailable', `object detector is ${this.current}`));
    if (req.crops.length === 0) return Promise.resolve({ detections: [], inferMs: 0, prepMs: 0, decodeMs: 0, crops: 0 });
    if ((this.busyLenses.get(req.lens) ?? 0) > 0 || this.pending.size >= this.maxInFlight) {
      this.counters.droppedBusy++;
      return null;
    }
    const { frame } = req;
    // Copy only the rows the crops touch: the caller's buffer is reused by the capture tap.
    const top = Math.max(0, Math.floor(Math.min(...req.crops.map((c) => c.y))));
    const bottom = Math.min(frame.height, Math.ceil(Math.max(...req.crops.map((c) => c.y + c.h))));
    const rows = Math.max(1, bottom - top);
    // Copied into a slot of our own: the caller's buffer is reused by the capture tap once
    // pushFrame() returns. (Not a transfer of `frame.data.slice()`: on a Node Buffer, what the
    // tap hands out, that is a view, and transferring its buffer would detach the pooled frame.)
    const bytes = rows * frame.width * 3;
    const slot = this.takeSlot(bytes);
    const data = slot.buf.subarray(0, bytes);
    data.set(frame.data.subarray(top * frame.width * 3, top * frame.width * 3 + bytes));
    const crops = req.crops.map((c) => ({ ...c, y: c.y - top }));
    const id = this.nextId++;
    this.counters.requests++;
    this.busyLenses.set(req.lens, (this.busyLenses.get(req.lens) ?? 0) + 1);
    const msg: DetectMessage = { type: 'detect', id, width: frame.width, height: rows, data, crops, floor: this.floor };
    return new Promise<DetectResult>((resolve, reject) => {
      this.pending.set(id, { lens: req.lens, crops: crops.length, slot, resolve, reject });
      this.worker.postMessage(msg);
    }).then((r) => ({ ...r, detections: r.detections.map((d) => shiftDown(d, top, rows, frame.height)) }));
  }

  /** A free shared slot of at least `bytes` (there are never more than maxInFlight busy). */
  private takeSlot(bytes: number): FrameSlot {
    let slot = this.slots.find((s) => !s.busy && s.buf.length >= bytes) ?? this.slots.find((s) => !s.busy);
    if (!slot) {
      slot = { buf: new Uint8Array(0), busy: false };
      this.slots.push(slot);
    }
    if (slot.buf.length < bytes) slot.buf = new Uint8Array(new SharedArrayBuffer(bytes));
    slot.busy = true;
    return slot;
  }

  /**
   * Stops the worker after its in-flight requests: they are answered (and resolve as usual),
   * then the session is released and the thread exits. Resolves once the thread has ended, so
   * nothing of ONNX Runtime outlives the daemon's shutdown. New requests are refused meanwhile.
   * Rejects only if the worker had to be terminated (it did not stop in `closeTimeoutMs`).
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.current = 'closed';
    try {
      await stopWorker(this.worker, this.exited, this.closeTimeoutMs);
    } finally {
      // Left only if the worker died or was terminated before answering them.
      this.rejectAll(new CamdError('unavailable', 'object detector closed'));
    }
  }

  private onReply(m: WorkerReply): void {
    if (m.type !== 'result' && m.type !== 'error') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.release(p);
    if (m.type === 'error') {
      this.counters.failed++;
      p.reject(new Error(`inference failed: ${m.message}`));
      return;
    }
    this.counters.completed++;
    this.counters.crops += p.crops;
    this.counters.inferMsTotal += m.inferMs;
    p.resolve({ detections: m.detections, inferMs: m.inferMs, prepMs: m.prepMs, decodeMs: m.decodeMs, crops: p.crops });
  }

  private release(p: Pending): void {
    // The worker is done reading the slot: it replies only after detectCrops() returned (or,
    // on failure, it is gone).
    p.slot.busy = false;
    const n = (this.busyLenses.get(p.lens) ?? 1) - 1;
    if (n <= 0) this.busyLenses.delete(p.lens);
    else this.busyLenses.set(p.lens, n);
  }

  private fail(err: Error): void {
    if (this.current !== 'ready') return;
    this.current = 'failed';
    this.rejectAll(err);
    for (const l of this.failureListeners) l(err);
  }

  private rejectAll(err: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.release(p);
      this.counters.failed++;
      p.reject(err);
    }
  }
}

/** Boxes were normalised to the copied band of rows; bring them back to the full frame. */
function shiftDown(d: FrameDetection, top: number, rows: number, height: number): FrameDetection {
  return { ...d, box: { x: d.box.x, w: d.box.w, y: (d.box.y * rows + top) / height, h: (d.box.h * rows) / height } };
}
