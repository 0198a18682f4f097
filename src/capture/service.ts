import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LENSES } from '../../board/schema.js';
import type { TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { OnceRunner, type OnceChild, type OnceSpec } from '../supervisor/runner.js';
import type { Context, Service } from '../supervisor/service.js';
import { CardLayout } from '../domain/card-layout.js';
import { microphone } from './mic.js';
import { sleepGate, type SleepGate } from '../state/sleep-gate.js';
import '../domain/clock.js';
import { LensPipeline, snapshotPath, type PipelineSettings } from './pipeline.js';
import { RelayHub, relayPath } from './relay.js';
import { leftoverSegments, runTags } from './segments.js';
import { EVENT_ID_RE, keepPanorama, takeSnapshot } from './snapshot.js';
import { tapFrame, tapWithDemands, type FramePair } from './tap.js';
import { keepEventStill } from './event-still.js';
import type { EventStill, EventStillRequest, LensCaptureState, LensName, TapDemand } from './types.js';
import { sweep360 } from './view360.js';
import './types.js';

const Lens = z.enum(LENSES);
/** How long a snapshot or 360° view waits for the first picture of a pipeline that just started. */
const FIRST_PICTURE_WAIT_MS = 5000;
/** A snapshot older than this means the lens's ffmpeg is not delivering. */
const SNAPSHOT_MAX_AGE_MS = 3000;
/** Tap counters change with every frame: publish them every few seconds, not per frame (the cloud mirrors the state). */
const STATS_MS = 5000;

interface Running {
  pipeline: LensPipeline;
  key: string;
}

/**
 * Processes that read a lens or make a picture outside the pipelines (the 360° sweep's shots and
 * stitch): refused while the camera sleeps, so a sweep that was running when sleep began cannot
 * take its next shot; the running ones are stopped when sleep is asked for.
 */
class LensProcessSet extends OnceRunner {
  constructor(
    deps: ConstructorParameters<typeof OnceRunner>[0],
    private readonly gate: SleepGate,
  ) {
    super(deps);
  }

  override start(spec: OnceSpec): OnceChild {
    if (this.gate.asleep()) throw new CamdError('unavailable', `the camera is in sleep mode (${spec.name} not started)`);
    return super.start(spec);
  }
}

/**
 * Capture of both lenses (one ffmpeg each, see pipeline.ts), the frame tap on the bus, sleep
 * mode, snapshots and the 360° view.
 *
 * What each pipeline does follows from the config, the card state and sleep mode; whenever one
 * of them changes, `reconcile` restarts exactly the pipelines whose settings differ. Sleep mode
 * (config capture.sleep, kept across reboots) stops every pipeline: no ffmpeg, no frames, no
 * segments; state.sleeping is set before capture stops and cleared after it is back.
 */
export class CaptureService implements Service {
  readonly name = 'capture';
  private readonly running = new Map<LensName, Running>();
  private readonly relays = new Map<LensName, RelayHub>();
  private queue: Promise<unknown> = Promise.resolve();
  private statsTimer: TimerHandle | undefined;
  private readonly unsubs: (() => void)[] = [];
  private readonly procs: OnceRunner;
  private readonly sleep: SleepGate;
  private readonly lensProcs: LensProcessSet;
  private readonly lastDelivered = new Map<LensName, { n: number; at: number }>();
  private readonly segments = new Map<LensName, { n: number; at: number }>();
  /** Readers' demands for a larger gray plane (`capture.tap.demand`), by owner. */
  private readonly tapDemands = new Map<string, TapDemand>();
  private view360Busy = false;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('capture');
    this.procs = new OnceRunner({ log: this.log, clock: ctx.clock, state: ctx.state });
    this.sleep = sleepGate(ctx);
    this.lensProcs = new LensProcessSet({ log: this.log, clock: ctx.clock, state: ctx.state }, this.sleep);
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.registerCommands();
    ctx.bus.on(this, 'capture.tap.demand', (d) => this.onTapDemand(d));
    ctx.bus.on(this, 'clock.stepped', ({ stepMs }) => {
      for (const r of this.running.values()) r.pipeline.clockStepped(stepMs);
    });
    this.unsubs.push(
      ctx.config.onChange(this, (_cfg, paths) => {
        if (paths.some((p) => /^(capture\.|lenses\.[a-z]+\.orientation|recording\.(segmentSeconds|audio))/.test(p))) void this.reconcile('settings changed');
      }),
      // Sleep asked for: a 360° sweep's running shot or stitch stops at once (no new one starts).
      this.sleep.onChange((asleep) => {
        if (asleep) void this.lensProcs.stopAll();
      }),
      ctx.state.subscribe(this, (s, changed) => {
        if (!changed.has('storage')) return;
        const recording = s.storage?.status === 'in-use';
        if ([...this.running.values()].some((r) => r.pipeline.recording !== recording)) void this.reconcile(`card ${s.storage?.status ?? 'unknown'}`);
      }),
    );
    await this.salvageStaging();
    await this.reconcile('start');
    this.statsTimer = ctx.clock.setInterval(() => this.publish(), STATS_MS);
    ctx.ports.stills = { forEvent: (req) => this.eventStill(req) };
  }

  /** ctx.ports.stills: the picture of a detection event (event-still.ts); refused in sleep mode. */
  private eventStill(req: EventStillRequest): Promise<EventStill> {
    const { ctx } = this;
    if (this.sleep.asleep()) return Promise.reject(new CamdError('unavailable', 'the camera is in sleep mode', 'lens'));
    if (!EVENT_ID_RE.test(req.eventId)) return Promise.reject(new CamdError('invalid_args', 'event id: letters, digits, _ and - only', 'eventId'));
    const inUse = ctx.state.get().storage?.status === 'in-use';
    return keepEventStill(req, {
      run: (spec) => this.lensProcs.run(spec),
      latestFile: snapshotPath(ctx.paths.runDir, req.lens),
      tmpDir: ctx.paths.runDir,
      cardMount: inUse ? ctx.paths.cardMount : undefined,
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    delete this.ctx.ports.stills;
    for (const u of this.unsubs.splice(0)) u();
    this.ctx.clock.clearInterval(this.statsTimer);
    await this.queue.catch(() => undefined);
    await Promise.all([...this.running.values()].map((r) => r.pipeline.stop()));
    this.running.clear();
    await Promise.all([...this.relays.values()].map((r) => r.stop()));
    this.relays.clear();
    await this.procs.stopAll();
    await this.lensProcs.stopAll();
    this.publish();
  }

  /** Brings every pipeline in line with the config, the card and sleep mode; one at a time. */
  reconcile(reason: string): Promise<void> {
    const run = this.queue.then(() => this.reconcileNow(reason));
    this.queue = run.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'capture reconcile failed'));
    return run;
  }

  private async reconcileNow(reason: string): Promise<void> {
    if (this.stopped) return;
    const { ctx } = this;
    const sleeping = ctx.config.get().capture.sleep;
    // Sleep: everyone reading the flag stops first; capture is then really stopped below.
    if (sleeping && !ctx.state.get().sleeping) this.setSleeping(true);
    for (const lens of LENSES) {
      const want = sleeping ? undefined : await this.desired(lens);
      const key = want ? JSON.stringify(want) : '';
      const cur = this.running.get(lens);
      if (cur && cur.key === key) continue;
      if (cur) {
        this.running.delete(lens);
        await cur.pipeline.stop();
      }
      if (!want) {
        await this.relays.get(lens)?.stop();
        this.relays.delete(lens);
        // Sleep: the last picture of the scene does not linger in the run directory either.
        if (sleeping) await fs.rm(snapshotPath(ctx.paths.runDir, lens), { force: true });
        continue;
      }
      let pipeline: LensPipeline | undefined;
      try {
        pipeline = this.newPipeline(lens, await this.relay(lens));
        await pipeline.start(want);
        this.running.set(lens, { pipeline, key });
        ctx.state.clearFault(`capture.${lens}`);
        this.log.info({ lens, reason, recording: !!want.recording, orientation: want.orientation }, 'capture pipeline started');
      } catch (err) {
        await pipeline?.stop().catch(() => undefined);
        ctx.state.raiseFault(`capture.${lens}`, { kind: 'camera', component: `capture.${lens}`, message: `cannot start capture: ${errorMessage(err)}` }, ctx.clock.now());
        this.log.error({ lens, err: errorMessage(err) }, 'capture pipeline failed to start');
      }
    }
    if (!sleeping && ctx.state.get().sleeping) this.setSleeping(false);
    this.publish();
  }

  private setSleeping(on: boolean): void {
    this.ctx.state.set('sleeping', on);
    this.log.info({ sleeping: on }, on ? 'sleep mode: capture stops' : 'awake: capture runs');
    this.event('system', on ? 'sleep.on' : 'sleep.off', undefined, {});
  }

  private async desired(lens: LensName): Promise<PipelineSettings> {
    const { ctx } = this;
    const cfg = ctx.config.get();
    let recording: PipelineSettings['recording'];
    if (ctx.state.get().storage?.status === 'in-use') {
      const dir = new CardLayout(ctx.paths.cardMount).staging(lens);
      try {
        await fs.mkdir(dir, { recursive: true });
        recording = { dir, segmentSeconds: cfg.recording.segmentSeconds };
      } catch (err) {
        this.log.warn({ lens, err: errorMessage(err) }, 'cannot prepare staging on the card; capturing without recording');
        ctx.bus.emit('storage.check', { reason: `staging mkdir failed: ${errorMessage(err)}` });
      }
    }
    let audio: PipelineSettings['audio'];
    if (recording && cfg.recording.audio) {
      try {
        audio = await microphone(ctx.board, this.procs);
      } catch (err) {
        // Video matters more than sound: record without the microphone and say why.
        this.log.error({ lens, err: errorMessage(err) }, 'microphone unavailable; recording without audio');
      }
    }
    return { lens: ctx.board.video[lens], orientation: cfg.lenses[lens].orientation, tap: this.tapFor(lens), recording, audio };
  }

  private async relay(lens: LensName): Promise<RelayHub> {
    let hub = this.relays.get(lens);
    if (!hub) {
      hub = new RelayHub(join(this.ctx.paths.runDir, `relayin-${lens}.sock`), relayPath(this.ctx.paths.runDir, lens), this.log);
      await hub.start();
      this.relays.set(lens, hub);
    }
    return hub;
  }

  private newPipeline(lens: LensName, relay: RelayHub): LensPipeline {
    const { ctx } = this;
    return new LensPipeline({
      lens,
      relay,
      runDir: ctx.paths.runDir,
      clock: ctx.clock,
      log: ctx.log(`capture.${lens}`),
      spawnChild: (spec) => ctx.spawnChild(spec),
      onPair: (pair, tap) => this.emitFrames(lens, pair, tap),
      onSegment: (seg) => {
        this.segments.set(lens, { n: (this.segments.get(lens)?.n ?? 0) + 1, at: ctx.clock.now() });
        ctx.bus.emit('capture.segment', seg);
      },
      onFailedChange: (failed, why) => {
        const id = `capture.${lens}`;
        if (failed) {
          ctx.state.raiseFault(id, { kind: 'camera', component: id, message: `capture keeps failing: ${why ?? 'unknown'}` }, ctx.clock.now());
          this.event('error', 'capture.failed', lens, { reason: why ?? 'unknown' });
        } else {
          ctx.state.clearFault(id);
          this.event('error', 'capture.recovered', lens, {});
        }
      },
      onUnexpectedExit: ({ recording, code, signal }) => {
        if (recording) ctx.bus.emit('storage.check', { reason: `capture.${lens} exited (${signal ?? code})` });
      },
    });
  }

  /** One bus event per frame, both planes in it; the pair's buffers return to the pools when the handlers have run. */
  private emitFrames(lens: LensName, pair: FramePair, tap: PipelineSettings['tap']): void {
    const frame = tapFrame(lens, pair, tap);
    // Sim board only: its lenses play clips that cannot see the camera's own lights, so the board
    // renders them into the planes here, before any reader (drivers/sim-scene.ts).
    this.ctx.hardware.sim?.scene.render(frame.ts, frame.gray, frame.rgb);
    this.ctx.bus.emit('capture.frame', frame);
  }

  /** The tap this lens's pipeline should run with: the config's, gray plane enlarged for the readers that demand it. */
  private tapFor(lens: LensName): PipelineSettings['tap'] {
    const demands = [...this.tapDemands.values()].flatMap((d) => (d.lens === lens && d.gray ? [d.gray] : []));
    return tapWithDemands(this.ctx.config.get().capture.tap, demands, this.ctx.board.video[lens]);
  }

  /**
   * A reader wants a larger gray plane (or no longer). Only a change of what the pipelines would
   * run with restarts one (reconcile compares the settings), so an owner may repeat its demand.
   * Sleep wins: reconcile runs no pipeline while asleep whatever is demanded; the demand only
   * shapes the pipeline that starts on waking.
   */
  private onTapDemand(d: TapDemand): void {
    const before = this.tapFor(d.lens);
    if (d.gray) this.tapDemands.set(d.owner, d);
    else this.tapDemands.delete(d.owner);
    const after = this.tapFor(d.lens);
    if (before.width === after.width && before.height === after.height) return;
    this.log.info({ lens: d.lens, owner: d.owner, gray: { width: after.width, height: after.height } }, 'tap gray plane resized on demand');
    void this.reconcile(`tap demand of ${d.owner}`);
  }

  /** Segments a previous life of the daemon left in staging (crash, power cut): handed to the recorder. */
  private async salvageStaging(): Promise<void> {
    if (this.ctx.state.get().storage?.status !== 'in-use') return;
    const layout = new CardLayout(this.ctx.paths.cardMount);
    for (const lens of LENSES) {
      const dir = layout.staging(lens);
      try {
        for (const tag of await runTags(dir)) {
          const { segments, empty } = await leftoverSegments(dir, tag, new Set());
          for (const f of empty) await fs.rm(f, { force: true });
          for (const s of segments) this.ctx.bus.emit('capture.segment', { lens, ...s });
          await fs.rm(join(dir, `${tag}.csv`), { force: true });
          if (segments.length) this.log.info({ lens, run: tag, segments: segments.length }, 'salvaged segments of an earlier run');
        }
      } catch (err) {
        this.log.warn({ lens, err: errorMessage(err) }, 'could not look at the staging area');
      }
    }
  }

  private publish(): void {
    const { ctx } = this;
    const now = ctx.clock.now();
    const sleeping = ctx.state.get().sleeping;
    const children = ctx.state.get().children;
    const out: Partial<Record<LensName, LensCaptureState>> = {};
    const tapCfg = ctx.config.get().capture.tap;
    for (const lens of LENSES) {
      const r = this.running.get(lens);
      const p = r?.pipeline;
      const child = children[`capture.${lens}`];
      const counts = p?.tapCounts ?? { frames: 0, delivered: 0, dropped: 0, unpaired: 0 };
      const last = this.lastDelivered.get(lens);
      const fps = last && now > last.at ? ((counts.delivered - last.n) * 1000) / (now - last.at) : 0;
      this.lastDelivered.set(lens, { n: counts.delivered, at: now });
      const tap = p?.current?.tap ?? tapCfg;
      out[lens] = {
        status: sleeping ? 'sleeping' : !p ? 'stopped' : child?.status === 'running' ? 'running' : (child?.status ?? 'starting'),
        ...(p?.pid ? { pid: p.pid } : {}),
        recording: !!p?.recording,
        orientation: ctx.config.get().lenses[lens].orientation,
        reencode: !!p?.reencode,
        restarts: child?.restarts ?? 0,
        segments: this.segments.get(lens)?.n ?? 0,
        ...(this.segments.get(lens) ? { lastSegmentAt: this.segments.get(lens)!.at } : {}),
        ...(p?.lastError ? { lastError: p.lastError } : {}),
        tap: {
          ...counts,
          fps: Math.round(fps * 10) / 10,
          gray: { width: tap.width, height: tap.height },
          ...(tap.rgbWidth > 0 ? { rgb: { width: tap.rgbWidth, height: tap.rgbHeight } } : {}),
        },
      };
    }
    ctx.state.set('capture', out);
  }

  private event(kind: 'system' | 'error' | 'ptz', type: string, lens: LensName | undefined, data: Record<string, unknown>): void {
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind, type, ...(lens ? { lens } : {}), data });
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'sleep.set',
      access: 'cloud',
      summary: 'sleep (privacy) mode: on = capture, recording, live view and alerts really stop; off = everything back',
      args: z.object({ on: z.boolean() }).strict(),
      handler: async ({ on }) => {
        if (ctx.config.get().capture.sleep !== on) await ctx.config.patch({ capture: { sleep: on } }, 'sleep.set');
        // Answer only once capture has really stopped (or is back).
        await this.reconcile(on ? 'sleep' : 'wake');
        return { sleeping: ctx.state.get().sleeping, capture: LENSES.map((lens) => ({ lens, pid: this.running.get(lens)?.pipeline.pid ?? null })) };
      },
    });
    ctx.commands.register(this, {
      name: 'snapshot',
      access: 'cloud',
      summary: 'a JPEG of one lens now: kept on the card (path) when one is in use, base64 when asked (inline) or without a card',
      args: z.object({ lens: Lens, eventId: z.string().regex(EVENT_ID_RE, 'letters, digits, _ and - only').optional(), inline: z.boolean().default(false) }).strict(),
      handler: async ({ lens, eventId, inline }) => {
        const p = await this.settledPipeline(lens);
        const inUse = ctx.state.get().storage?.status === 'in-use';
        const base = { lens, latestFile: p.snapshotFile, now: ctx.clock.now(), maxAgeMs: SNAPSHOT_MAX_AGE_MS, eventId, inline };
        try {
          return await takeSnapshot({ ...base, cardMount: inUse ? ctx.paths.cardMount : undefined });
        } catch (err) {
          if (!inUse || err instanceof CamdError) throw err;
          // The card failed under us: still answer with the picture, and have the card looked at.
          ctx.bus.emit('storage.check', { reason: `snapshot write failed: ${errorMessage(err)}` });
          return { ...(await takeSnapshot(base)), cardError: errorMessage(err) };
        }
      },
    });
    // The sim-view page's picture (src/simview, about 1/s per lens while a page is open): the
    // latest JPEG, never kept on the card, so watching fills nothing.
    if (ctx.hardware.sim) {
      ctx.commands.register(this, {
        name: 'sim.frame',
        access: 'local',
        summary: '(sim board) the latest JPEG of one lens, base64, not kept on the card',
        args: z.object({ lens: Lens }).strict(),
        handler: async ({ lens }) => takeSnapshot({ lens, latestFile: (await this.settledPipeline(lens)).snapshotFile, now: ctx.clock.now(), maxAgeMs: SNAPSHOT_MAX_AGE_MS, inline: true }),
      });
    }
    ctx.commands.register(this, {
      name: 'view360',
      access: 'cloud',
      summary: 'sweep the PTZ lens over its pan range and stitch the pictures into one panorama JPEG',
      args: z.object({ shots: z.number().int().min(3).max(12).default(6), inline: z.boolean().default(false) }).strict(),
      handler: async ({ shots, inline }) => this.view360(shots, inline),
    });
  }

  /**
   * The lens's pipeline once the reconciles queued so far are done: a card that was just
   * initialised (or inserted, or a setting changed) restarts the pipelines, and a snapshot or a
   * 360° view asked for in that moment waits for it rather than failing with "not capturing".
   */
  private async settledPipeline(lens: LensName): Promise<LensPipeline> {
    await this.queue;
    const p = this.livePipeline(lens);
    // A pipeline that just (re)started has no picture for a moment: wait for its first one, in
    // real time (a bounded wait, never the injected clock a test may have frozen).
    const until = Date.now() + FIRST_PICTURE_WAIT_MS;
    while (Date.now() < until && !(await fs.stat(p.snapshotFile).then(() => true, () => false))) await delay(100);
    return p;
  }

  private livePipeline(lens: LensName): LensPipeline {
    // The gate, not only state.sleeping: refused from the moment sleep is asked for.
    if (this.sleep.asleep()) throw new CamdError('unavailable', 'the camera is in sleep mode', 'lens');
    const r = this.running.get(lens);
    if (!r) throw new CamdError('unavailable', `the ${lens} lens is not capturing`, 'lens');
    return r.pipeline;
  }

  private async view360(shots: number, inline: boolean): Promise<unknown> {
    const { ctx } = this;
    const ptz = ctx.hardware.parts.ptz;
    if (!ptz) throw new CamdError('unavailable', `no PTZ lens: ${ctx.hardware.failures.ptz ?? 'not on this board'}`);
    const pipeline = await this.settledPipeline('ptz');
    if (this.view360Busy) throw new CamdError('busy', 'a 360° view is already being made');
    this.view360Busy = true;
    const workDir = await fs.mkdtemp(join(ctx.paths.runDir, 'view360-'));
    const t0 = ctx.clock.now();
    // Progress in state.view360 while it runs (src/domain/progress.ts says why the state).
    const onPhase = (phase: string, step?: number, steps?: number): void => ctx.state.set('view360', { phase, ...(step !== undefined && { step, steps }), startedAt: t0 });
    try {
      const { file, positions } = await sweep360(
        { head: ctx.ports.head, board: ctx.board, clock: ctx.clock, procs: this.lensProcs, workDir, ptzSnapshot: pipeline.snapshotFile, sim: !!ctx.hardware.sim, onPhase },
        shots,
      );
      onPhase('storing');
      const inUse = ctx.state.get().storage?.status === 'in-use';
      const res = await keepPanorama({ file, ts: ctx.clock.now(), cardMount: inUse ? ctx.paths.cardMount : undefined, inline });
      this.log.info({ shots, positions, ms: ctx.clock.now() - t0, bytes: res.bytes }, '360° view made');
      return { ...res, shots, positions };
    } finally {
      this.view360Busy = false;
      ctx.state.set('view360', undefined);
      await fs.rm(workDir, { recursive: true, force: true });
    }
  }
}

export const captureService = (ctx: Context): Service => new CaptureService(ctx);
