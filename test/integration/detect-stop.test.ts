import { createHook } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as realSleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bootSim, MEDIA, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { planCrops } from '../../src/detect/crops.js';
import { DetectorHost } from '../../src/detect/detector-host.js';
import type { DetectionState } from '../../src/detect/state.js';
import { decodeImage } from '../../src/detect/stills.js';
import type { RgbFrame } from '../../src/detect/types.js';
import { BUSY_CONFIG, busyBoard, detectorStopped } from './detect-stop-media.js';

/**
 * Stopping the object detector while the model runs. onnxruntime-node's `session.run()` is a
 * synchronous native call on the inference thread; a thread stopped inside it (terminate(), or
 * the process exiting with the thread alive) used to abort the whole process: "terminate called
 * after throwing an instance of 'Napi::Error'", exit 134 (worker.ts says why). If it comes back,
 * this file's vitest fork dies and the file fails.
 */

/** Worker threads of this process that have not ended yet (async_hooks sees every one). */
const liveWorkers = new Set<number>();
const hook = createHook({
  init: (id, type) => void (type === 'WORKER' && liveWorkers.add(id)),
  destroy: (id) => void liveWorkers.delete(id),
});
beforeAll(() => void hook.enable());
afterAll(() => void hook.disable());

/**
 * Closes that must land in a run. 20 keeps the file within CI's time (a cycle starts a worker
 * and loads the model, ~0.5–1.5 s); CAMD_STOP_CYCLES=50 for a longer run by hand.
 */
const CYCLES = Math.max(1, Number(process.env.CAMD_STOP_CYCLES) || 20);

describe('closing the detector host in the middle of a run', () => {
  let still: RgbFrame;
  beforeAll(async () => {
    still = await decodeImage(join(MEDIA, 'person.jpg'));
  });

  it(`${CYCLES} hosts closed while their run is in flight: each run is answered, each thread ends, nothing aborts`, async () => {
    // Four crops per request (four model runs): a window wide enough to aim a close into.
    const crops = [1, 2].flatMap(() => planCrops('tiles', still.width, still.height, []));
    const opens: number[] = [];
    const runs: number[] = [];
    const closes: number[] = [];
    let inFlight = 0;
    let attempts = 0;
    while (inFlight < CYCLES && attempts < 3 * CYCLES) {
      attempts++;
      let t = performance.now();
      const host = await DetectorHost.open({ threads: 1 });
      opens.push(performance.now() - t);
      // How long one request takes on this machine right now (after the session's first run,
      // which is slower): the close below is aimed inside the next one, somewhere in its first
      // 60 % (most of a request is the native run).
      await host.detect({ lens: 'wide', frame: still, crops });
      t = performance.now();
      await host.detect({ lens: 'wide', frame: still, crops });
      const runMs = performance.now() - t;
      runs.push(runMs);
      const pending = host.detect({ lens: 'wide', frame: still, crops })!;
      await new Promise((r) => setTimeout(r, runMs * (0.05 + 0.55 * Math.random())));
      // A loaded machine may have answered it already: such a cycle does not count.
      if (host.inFlight === 1) inFlight++;
      t = performance.now();
      await host.close();
      closes.push(performance.now() - t);
      expect(host.state).toBe('closed');
      // Answered by the worker before it let go of the session, not rejected as "closed".
      const r = await pending;
      expect(r.crops).toBe(crops.length);
      expect(r.detections.some((d) => d.coco === 0 && d.score > 0.5)).toBe(true);
    }
    expect(inFlight).toBe(CYCLES);
    await new Promise((r) => setImmediate(r));
    expect(liveWorkers.size).toBe(0);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(0);
    console.log(`detect-stop: ${inFlight} of ${attempts} closes landed in a run; median open ${med(opens)} ms, request ${med(runs)} ms, close ${med(closes)} ms`);
  }, Math.max(600_000, CYCLES * 30_000));
});

describe('the detector host and fake timers', () => {
  let still: RgbFrame;
  beforeAll(async () => {
    still = await decodeImage(join(MEDIA, 'person.jpg'));
  });

  it('fake time pushed past the start timeout while the model loads: the host still opens, runs and closes', async () => {
    // In-process supervisor tests run under fake timers and advance them by minutes; the start
    // timeout once fired then and terminated a worker that was inside the native model load.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    try {
      let settled = false;
      const opening = DetectorHost.open({ threads: 1 }).finally(() => (settled = true));
      // Fake minutes pass for every few real milliseconds until the host is up (or gave up).
      let faked = 0;
      while (!settled) {
        await vi.advanceTimersByTimeAsync(10_000);
        faked += 10_000;
        await realSleep(20);
      }
      expect(faked).toBeGreaterThan(30_000); // the start timeout's length, many times over on a slow machine
      const host = await opening;
      expect(host.state).toBe('ready');
      const r = await host.detect({ lens: 'wide', frame: still, crops: planCrops('tiles', still.width, still.height, []) })!;
      expect(r.detections.some((d) => d.coco === 0)).toBe(true);
      await host.close();
      expect(host.state).toBe('closed');
    } finally {
      vi.useRealTimers();
    }
  }, 120_000);
});

/** A busy in-process supervisor (every default service) whose log the test reads. */
async function bootBusy(dir: string): Promise<{ b: BootedSim; log: () => string }> {
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(BUSY_CONFIG));
  let log = '';
  const logDestination = new Writable({
    write(chunk: Buffer, _enc, done) {
      log += chunk.toString();
      done();
    },
  });
  const b = await bootSim({ dir, board: busyBoard(dir), logDestination, logLevel: 'info' });
  return { b, log: () => log };
}

/**
 * Resolves the moment the next inference is handed to a worker (a run is in flight), after
 * `then` ran on that host: a busy machine must not decide whether anything is in flight.
 */
function nextRunInFlight(then: (host: DetectorHost) => void = () => undefined): Promise<void> {
  const original = DetectorHost.prototype.detect;
  return new Promise<void>((resolve) => {
    const spy = vi.spyOn(DetectorHost.prototype, 'detect').mockImplementation(function (this: DetectorHost, req) {
      const res = original.call(this, req);
      if (res && this.inFlight > 0) {
        spy.mockRestore();
        then(this);
        resolve();
      }
      return res;
    });
  });
}

describe('in-process supervisors (test/harness/boot.ts) stopped while the detector runs', () => {
  it('dispose() with inferences in flight: they are answered, no worker thread is left, the fork lives on', async () => {
    const wanted = 2;
    const stops: number[] = [];
    while (stops.filter((n) => n > 0).length < wanted && stops.length < 8) {
      const dir = mkdtempSync(join(tmpdir(), 'camd-stop-in-'));
      try {
        // The whole default service set, as most in-process tests boot it.
        const { b, log: logged } = await bootBusy(dir);
        try {
          await waitFor(async () => {
            const r = await b.sup.commands.execute('detection.get', {}, { source: 'local' });
            const st = (r.ok ? r.result : undefined) as DetectionState | undefined;
            return st?.model.status === 'ready' && (st.lenses.wide?.inferences ?? 0) >= 2 && (st.lenses.ptz?.inferences ?? 0) >= 2;
          }, 30_000, 100);
          // Stop the moment the next inference is handed to the worker, not at a random time.
          await nextRunInFlight();
        } finally {
          await b.dispose();
        }
        const log = logged();
        const stopped = detectorStopped(log);
        expect(stopped, 'the detector logs how it stopped').toBeDefined();
        stops.push(stopped!.inFlight);
        expect(log).not.toContain('object detector closed');
        // Nothing of ONNX Runtime outlives the supervisor: the test's process may end now.
        await new Promise((r) => setImmediate(r));
        expect(liveWorkers.size).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    console.log(`detect-stop: ${stops.length} in-process stops, in flight at each: ${stops.join(',')}`);
    expect(stops.filter((n) => n > 0).length).toBeGreaterThanOrEqual(wanted);
  }, 600_000);
});

describe('a worker replaced while it runs (the keeper re-creates a failed host)', () => {
  it('the old thread finishes its run and ends, a new one takes over, nothing aborts (3 times)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-restart-in-'));
    try {
      const { b, log: logged } = await bootBusy(dir);
      const detection = async (): Promise<DetectionState | undefined> => {
        const r = await b.sup.commands.execute('detection.get', {}, { source: 'local' });
        return (r.ok ? r.result : undefined) as DetectionState | undefined;
      };
      try {
        for (let cycle = 1; cycle <= 3; cycle++) {
          await waitFor(async () => {
            const st = await detection();
            return st?.model.status === 'ready' && st.model.restarts === cycle - 1 && (st.lenses.wide?.inferences ?? 0) >= 2;
          }, 60_000, 100);
          // The moment a run is handed to the worker, the host reports its worker failed: what
          // the keeper sees when a thread errors. The keeper then closes that host — whose
          // thread is still inside the run — and opens a new one.
          await nextRunInFlight((host) => (host as unknown as { worker: EventEmitter }).worker.emit('error', new Error(`test: worker failure ${cycle}`)));
        }
        await waitFor(async () => (await detection())?.model.status === 'ready', 60_000, 100);
        expect((await detection())!.model.restarts).toBe(3);
        // The replaced threads have ended; only the current one is left.
        await waitFor(async () => liveWorkers.size === 1, 30_000, 100);
      } finally {
        await b.dispose();
      }
      await new Promise((r) => setImmediate(r));
      expect(liveWorkers.size).toBe(0);
      expect(logged().match(/re-creating the object detector/g)).toHaveLength(3);
      expect(logged()).not.toContain('did not stop cleanly');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
