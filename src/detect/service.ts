import type { Logger } from 'pino';
import { LENSES, type LensName } from '../domain/types.js';
import type { TapFrame } from '../capture/types.js';
import type { TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import type { EndReason } from '../domain/episode.js';
import type { Context, Service } from '../supervisor/service.js';
import { registerDetectionCommands } from './commands.js';
import { DetectorHost } from './detector-host.js';
import { CloudRecords } from './cloud-record.js';
import { EpisodeOutput } from './episodes.js';
import { HostKeeper, ModelFileError, type HostStatus, type KeptHost } from './host-keeper.js';
import { LensLane } from './lane.js';
import { loadVerifiedModel, MODEL_SHA256 } from './model.js';
import { settingsForLens } from './settings.js';
import type { DetectionState, LensDetectionState } from './state.js';
import type { EpisodeEvent } from './tracker.js';
import type { DetectionType, Picture } from './types.js';
import '../domain/lights.js'; // the `lights.changing` event this service listens to
import '../capture/types.js';
import './state.js';

/** Episodes end on time even when frames stop (capture restarting, a lens unplugged). */
const TICK_MS = 1000;
/** Counters reach the state this often (the cloud mirrors the state: not per frame). */
const PUBLISH_MS = 5000;
const MODEL_FAULT = 'detect.model';
const WORKER_FAULT = 'detect.worker';
const TYPES: readonly DetectionType[] = ['human', 'vehicle', 'change'];

/**
 * Detection in the daemon: the frame tap of each lens feeds a LensPipeline (image change gates
 * the FastestDet worker). Each episode event is emitted at once as the typed
 * `detection.episode` (alarm, recorder and PTZ follow act on it); after that, its cloud record
 * (`camera.event` with a snapshot and the recorder's clip reference, cloud-record.ts) is queued,
 * and only that record waits for the picture.
 *
 * - Model: verified (SHA-256) and loaded in a worker at start, without holding up the boot.
 *   Missing or altered → camera fault `detect.model` (LED fast red) and the pipelines run
 *   without a detector: image change keeps working. A worker that dies is re-created with
 *   backoff and a restart limit (host-keeper.ts); past the limit → fault `detect.worker`.
 * - Settings: config `detection.*`, applied live on every config change (`detection.set` goes
 *   through the config too).
 * - Lights: `lights.changing` tells every pipeline the next image change is the camera's own.
 * - Sleep: open episodes end (reason `sleep`), the pipelines are dropped, frames ignored; fresh
 *   pipelines on wake (a new background: the scene may have changed meanwhile).
 */
export class DetectionService implements Service {
  readonly name = 'detection';
  private readonly log: Logger;
  private readonly lanes = new Map<LensName, LensLane>();
  private readonly retired = new Map<LensName, LensDetectionState>();
  private keeper!: HostKeeper;
  private records!: CloudRecords;
  private output!: EpisodeOutput;
  private readonly unsubs: (() => void)[] = [];
  private tickTimer: TimerHandle | undefined;
  private publishTimer: TimerHandle | undefined;
  private lastError = 0;
  private stopped = false;

  constructor(
    private readonly ctx: Context,
    private readonly opts: DetectionOptions,
  ) {
    this.log = ctx.log('detection');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.records = new CloudRecords({
      clock: ctx.clock,
      log: this.log,
      maxEventBytes: this.opts.maxEventBytes,
      snapshot: (req) => (ctx.ports.stills ? ctx.ports.stills.forEvent(req) : Promise.reject(new CamdError('unavailable', 'capture is not running', 'lens'))),
      emit: (e) => ctx.bus.emit('camera.event', e),
      picture: (p) => ctx.bus.emit('detection.picture', p),
      latency: (lens, ms) => this.lanes.get(lens)?.recordLatency(ms),
    });
    ctx.bus.on(this, 'recording.clip', (c) => this.records.onClip(c));
    this.output = new EpisodeOutput({ emit: (e) => ctx.bus.emit('detection.episode', e), record: (e, picture) => this.records.publish(e, picture) });
    this.keeper = new HostKeeper({
      clock: ctx.clock,
      log: this.log,
      open: () => this.openHost(),
      onChange: (host, status, reason) => this.onHost(host, status, reason),
    });
    if (!ctx.state.get().sleeping) this.wake();
    ctx.bus.on(this, 'capture.frame', (f) => this.onFrame(f));
    ctx.bus.on(this, 'lights.changing', ({ source, on, ts }) => {
      // Strobes: on = flashing until the matching off (domain/lights.ts); the others are one switch.
      const flashing = source === 'strobe' ? on : undefined;
      for (const lane of this.lanes.values()) lane.lightChange(ts, flashing);
    });
    this.unsubs.push(
      ctx.config.onChange(this, (cfg, paths) => {
        if (paths.some((p) => p.startsWith('detection.'))) {
          for (const [lens, lane] of this.lanes) lane.updateSettings(settingsForLens(cfg.detection, lens));
          this.log.info({ paths: paths.filter((p) => p.startsWith('detection.')) }, 'detection settings applied');
        }
        if (paths.some((p) => p.startsWith('capture.tap.'))) this.assignDetector();
        this.publish();
      }),
      ctx.state.subscribe(this, (s, changed) => {
        if (!changed.has('sleeping') || this.stopped) return;
        if (s.sleeping && this.lanes.size) this.sleep('sleep');
        else if (!s.sleeping && !this.lanes.size) this.wake();
        this.publish();
      }),
    );
    registerDetectionCommands(this, ctx, () => this.snapshot());
    this.tickTimer = ctx.clock.setInterval(() => {
      const now = ctx.clock.now();
      for (const lane of this.lanes.values()) lane.tick(now);
    }, TICK_MS);
    this.publishTimer = ctx.clock.setInterval(() => this.publish(), PUBLISH_MS);
    this.keeper.start();
    this.publish();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubs.splice(0)) u();
    this.ctx.clock.clearInterval(this.tickTimer);
    this.ctx.clock.clearInterval(this.publishTimer);
    // Open episodes end now, so their recordings and the cloud are told before storage stops.
    if (this.lanes.size) this.sleep('shutdown');
    // No inference is wanted any more: the detector starts closing at once, next to the event
    // publishing. It finishes the runs in flight, releases the session and ends its thread
    // before this resolves, so no ONNX Runtime thread is left when the daemon exits.
    const detector = this.keeper?.stop();
    await this.records?.idle();
    await detector;
    this.publish();
  }

  private async openHost(): Promise<KeptHost> {
    const path = this.ctx.board.paths.model;
    // Checked here first (the host checks again, ~5 ms for 1 MB) so that a bad file, which no
    // retry can mend, is told apart from a worker that failed to start, which is retried.
    try {
      await loadVerifiedModel(path, MODEL_SHA256);
    } catch (err) {
      throw new ModelFileError(errorMessage(err));
    }
    // One inference thread: the other core stays with ffmpeg and the daemon.
    return DetectorHost.open({ modelPath: path, expectedSha256: MODEL_SHA256, threads: 1 });
  }

  private onHost(_host: KeptHost | null, status: HostStatus, reason: string | undefined): void {
    const { state, clock } = this.ctx;
    if (status === 'ready') {
      state.clearFault(MODEL_FAULT);
      state.clearFault(WORKER_FAULT);
    } else if (status === 'failed') {
      const id = this.keeper.failure === 'model' ? MODEL_FAULT : WORKER_FAULT;
      state.raiseFault(id, { kind: 'camera', component: 'detection', message: `${reason ?? 'object detector unavailable'}; human and vehicle detection are off, image change still works` }, clock.now());
    }
    this.assignDetector();
    this.publish();
  }

  /** Lanes get the detector when it is ready and their tap sends RGB frames to crop from. */
  private assignDetector(): void {
    const host = this.keeper?.current ?? null;
    const rgb = this.rgbTap();
    for (const lane of this.lanes.values()) lane.setDetector(rgb ? host : null);
  }

  private rgbTap(): boolean {
    const t = this.ctx.config.get().capture.tap;
    return t.rgbWidth > 0 && t.rgbHeight > 0;
  }

  /** One event per frame with both planes (paired by the tap): handed straight to the lens's lane; asleep there is no lane. */
  private onFrame(f: TapFrame): void {
    this.lanes.get(f.lens)?.onFrame(f);
  }

  private wake(): void {
    const cfg = this.ctx.config.get();
    for (const lens of LENSES) {
      this.lanes.set(
        lens,
        new LensLane({
          lens,
          settings: settingsForLens(cfg.detection, lens),
          detector: null,
          clock: this.ctx.clock,
          onEpisode: (e, reason, picture) => this.onEpisode(lens, e, reason, picture),
          onError: (err) => this.onPipelineError(lens, err),
          onTracks: (tracks) => {
            for (const t of tracks) this.ctx.bus.emit('detection.track', { lens, type: t.type, episodeId: t.episodeId, box: { ...t.box }, score: t.score, ts: t.ts });
          },
        }),
      );
    }
    this.assignDetector();
  }

  /** At once on the bus for those who act on it; then the cloud record, which may wait for its snapshot (episodes.ts). */
  private onEpisode(lens: LensName, e: EpisodeEvent, reason: EndReason, picture: Picture | undefined): void {
    void this.output.publish(lens, e, reason, picture);
    if (e.phase !== 'update') this.publish();
  }

  private sleep(reason: 'sleep' | 'shutdown'): void {
    const now = this.ctx.clock.now();
    const enabled = this.enabledTypes();
    for (const [lens, lane] of this.lanes) {
      lane.stop(reason, now);
      this.retired.set(lens, addCounters(this.retired.get(lens), lane.state(enabled, false)));
    }
    this.lanes.clear();
    this.log.info({ reason }, 'detection stopped');
  }

  private onPipelineError(lens: LensName, err: Error): void {
    // A dying worker fails every request in flight: one log line per few seconds is enough.
    const now = this.ctx.clock.now();
    if (now - this.lastError < 5000) return;
    this.lastError = now;
    this.log.warn({ lens, err: err.message }, 'detection pipeline error');
  }

  private snapshot(): Record<string, unknown> {
    this.publish();
    return { settings: this.ctx.config.get().detection, ...this.ctx.state.get().detection };
  }

  private enabledTypes(): DetectionType[] {
    const cfg = this.ctx.config.get().detection;
    return TYPES.filter((t) => cfg[t].enabled);
  }

  private publish(): void {
    const { ctx } = this;
    const enabled = this.enabledTypes();
    const objectDetection = !!this.keeper?.current && this.rgbTap();
    const lenses: DetectionState['lenses'] = {};
    for (const lens of LENSES) {
      const lane = this.lanes.get(lens);
      // Counters run since the daemon started: those of the pipelines dropped by sleep are kept.
      const cur = lane ? lane.state(enabled, objectDetection) : undefined;
      const base = this.retired.get(lens);
      const st = cur ? addCounters(base, cur) : base && { ...base, enabled, objectDetection: false, open: [] };
      if (st) lenses[lens] = st;
    }
    const next: DetectionState = {
      model: { status: this.keeper?.status ?? 'loading', ...(this.keeper?.reason ? { reason: this.keeper.reason } : {}), path: ctx.board.paths.model, restarts: this.keeper?.restarts ?? 0 },
      sleeping: ctx.state.get().sleeping,
      lenses,
    };
    if (JSON.stringify(next) !== JSON.stringify(ctx.state.get().detection)) ctx.state.set('detection', next);
  }
}

/** `cur` with the counters of an earlier pipeline of the same lens added in. */
function addCounters(base: LensDetectionState | undefined, cur: LensDetectionState): LensDetectionState {
  if (!base) return cur;
  const lastEventAt = cur.lastEventAt ?? base.lastEventAt;
  return {
    ...cur,
    framesIn: base.framesIn + cur.framesIn,
    changeFrames: base.changeFrames + cur.changeFrames,
    staticFrames: base.staticFrames + cur.staticFrames,
    dropped: { rate: base.dropped.rate + cur.dropped.rate, busy: base.dropped.busy + cur.dropped.busy },
    inferences: base.inferences + cur.inferences,
    failed: base.failed + cur.failed,
    events: base.events + cur.events,
    ...(lastEventAt !== undefined ? { lastEventAt } : {}),
    ...(cur.latencyMs ?? base.latencyMs ? { latencyMs: cur.latencyMs ?? base.latencyMs } : {}),
  };
}

export interface DetectionOptions {
  /** The cloud outbox's bound on one event: the inline snapshot of a record must fit in it. */
  maxEventBytes: number;
}

/** Built by the composition root (src/services.ts), which knows the outbox's bound. */
export const detectionServiceWith =
  (opts: DetectionOptions) =>
  (ctx: Context): Service =>
    new DetectionService(ctx, opts);
