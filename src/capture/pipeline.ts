import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { FFMPEG } from '../core/ffmpeg.js';
import type { ChildRunner, ChildSpec } from '../supervisor/runner.js';
import { captureArgs, needsReencode, type AudioSource, type CaptureArgsInput, type TapSettings } from './args.js';
import type { RelayHub } from './relay.js';
import { leftoverSegments, SegmentListTail, StreamClock } from './segments.js';
import { FrameAssembler, FramePool, TapPairer, type FramePair } from './tap.js';
import type { LensName, Orientation, SegmentDone } from './types.js';
import { UnixServer } from './unix-socket.js';

export interface PipelineSettings {
  lens: CaptureArgsInput['lens'];
  orientation: Orientation;
  tap: TapSettings;
  /** The card's staging directory when the card is in use; absent = no recording. */
  recording?: { dir: string; segmentSeconds: number };
  audio?: AudioSource;
}

export interface PipelineDeps {
  lens: LensName;
  runDir: string;
  clock: Clock;
  log: Logger;
  spawnChild(spec: ChildSpec): ChildRunner;
  /** The lens's relay: owned by the service so live readers stay connected across pipeline restarts. */
  relay: RelayHub;
  onPair(pair: FramePair, tap: TapSettings): void;
  onSegment(seg: SegmentDone): void;
  onFailedChange(failed: boolean, lastError: string | undefined): void;
  /** ffmpeg ended on its own (crash, write error, stall) and will be restarted. */
  onUnexpectedExit(info: { code: number | null; signal: string | null; recording: boolean }): void;
}

interface Run {
  tag: string;
  dir: string;
  tail: SegmentListTail;
  clock: StreamClock;
  handled: Set<string>;
  /** [hardening] When this run began, and when it last listed a segment (segment watchdog). */
  since: number;
  lastSegmentAt?: number;
}

export const SNAPSHOT_FPS = 1;
const SEGMENT_POLL_MS = 500;
/** No tap frame for this long = ffmpeg is stuck (a dead camera device, a hung card write). */
export const STALL_MS = 10_000;

export function snapshotPath(runDir: string, lens: string): string {
  return join(runDir, `snap-${lens}.jpg`);
}

/**
 * One lens's capture: the ffmpeg child (through the supervisor's runner: stderr to the log,
 * restart with capped backoff, stall watchdog kicked by every tap frame, `failed` after repeated
 * failures), the tap sockets, the relay and the staging segment bookkeeping. Every (re)spawn is a
 * new "run" with its own segment names, so a restarted ffmpeg never overwrites what the previous
 * one left: that is handed on as partial segments.
 */
export class LensPipeline {
  private runner: ChildRunner | undefined;
  private settings: PipelineSettings | undefined;
  private rgbServer: UnixServer | undefined;
  private grayAsm: FrameAssembler | undefined;
  private pairer: TapPairer | undefined;
  private run: Run | undefined;
  private lastTag = '';
  private pollTimer: TimerHandle | undefined;
  private polling: Promise<void> = Promise.resolve();
  private readonly finishing = new Set<Promise<void>>();
  lastError: string | undefined;

  constructor(private readonly deps: PipelineDeps) {}

  get pid(): number | undefined {
    return this.runner?.pid;
  }

  get recording(): boolean {
    return !!this.settings?.recording;
  }

  get current(): PipelineSettings | undefined {
    return this.settings;
  }

  get tapCounts(): TapPairer['counts'] | undefined {
    return this.pairer?.counts;
  }

  get snapshotFile(): string {
    return snapshotPath(this.deps.runDir, this.deps.lens);
  }

  async start(settings: PipelineSettings): Promise<void> {
    const { deps } = this;
    this.settings = settings;
    // A picture of the previous run (other orientation, other settings) must not pass for a new one.
    await fs.rm(this.snapshotFile, { force: true });
    const { tap } = settings;
    const grayPool = new FramePool(tap.width * tap.height);
    const rgb = tap.rgbWidth > 0 && tap.rgbHeight > 0;
    const rgbPool = new FramePool(Math.max(1, tap.rgbWidth * tap.rgbHeight * 3));
    const pairer = new TapPairer({
      rgb,
      now: () => deps.clock.now(),
      schedule: (fn) => setImmediate(fn),
      deliver: (pair) => deps.onPair(pair, tap),
      release: (kind, buf) => (kind === 'gray' ? grayPool : rgbPool).release(buf),
    });
    const prev = this.pairer?.counts;
    if (prev) Object.assign(pairer.counts, prev);
    this.pairer = pairer;
    this.grayAsm = new FrameAssembler(grayPool, (f) => {
      pairer.gray(f);
      this.runner?.kick();
      this.runner?.markHealthy();
    });
    const rgbAsm = new FrameAssembler(rgbPool, (f) => pairer.rgb(f));
    if (rgb) {
      this.rgbServer = new UnixServer(join(deps.runDir, `tap-${deps.lens}.sock`), (sock) => {
        rgbAsm.reset();
        sock.on('data', (c: Buffer) => rgbAsm.push(c));
      });
      await this.rgbServer.listen();
    }

    // The runner reads `args` at every (re)spawn, through a getter that needs this pipeline.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.runner = deps.spawnChild({
      name: `capture.${deps.lens}`,
      command: FFMPEG,
      // Read at every (re)spawn by the runner: each run gets fresh segment names.
      get args(): readonly string[] {
        return self.nextRunArgs();
      },
      stdout: 'pipe',
      backoff: { baseMs: 500, maxMs: 30_000 },
      stableAfterMs: 30_000,
      failAfter: 5,
      stallTimeoutMs: STALL_MS,
      onSpawn: (child) => {
        this.grayAsm?.reset();
        this.pairer?.reset();
        const asm = this.grayAsm;
        child.stdout?.on('data', (c: Buffer) => asm?.push(c));
      },
      onExit: (info) => {
        const run = this.run;
        this.run = undefined;
        if (run) this.track(this.finishRun(run));
        if (info.restarting) {
          this.lastError = info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`;
          deps.onUnexpectedExit({ code: info.code, signal: info.signal, recording: !!run });
        }
      },
      onFailedChange: (failed) => deps.onFailedChange(failed, this.lastError),
    });
    this.runner.start();
    this.pollTimer = deps.clock.setInterval(() => {
      this.polling = this.polling.then(() => this.pollSegments());
    }, SEGMENT_POLL_MS);
  }

  /** Stops ffmpeg (it closes its last segment), hands on what it left, closes the sockets. */
  async stop(): Promise<void> {
    this.deps.clock.clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    await this.runner?.stop();
    this.runner = undefined;
    await this.polling;
    while (this.finishing.size) await Promise.all([...this.finishing]);
    await this.rgbServer?.close();
    this.rgbServer = undefined;
    this.settings = undefined;
  }

  get reencode(): boolean {
    return !!this.settings && needsReencode(this.settings.lens.source, this.settings.orientation);
  }

  private nextRunArgs(): string[] {
    const s = this.settings!;
    let tag = `r${this.deps.clock.now()}`;
    if (tag <= this.lastTag) tag = `r${Number(this.lastTag.slice(1)) + 1}`;
    this.lastTag = tag;
    if (s.recording) {
      const dir = s.recording.dir;
      this.run = { tag, dir, tail: new SegmentListTail(join(dir, `${tag}.csv`)), clock: new StreamClock(), handled: new Set(), since: this.deps.clock.now() };
    } else {
      this.run = undefined;
    }
    return captureArgs({
      lens: s.lens,
      orientation: s.orientation,
      tap: s.tap,
      rgbSocket: this.rgbServer?.path,
      snapshotFile: this.snapshotFile,
      snapshotFps: SNAPSHOT_FPS,
      relaySocket: this.deps.relay.inPath,
      recording: s.recording ? { dir: s.recording.dir, tag, segmentSeconds: s.recording.segmentSeconds } : undefined,
      audio: s.audio,
    });
  }

  /** The wall clock was stepped by `stepMs`: this run's times move with it (see StreamClock.shift). */
  clockStepped(stepMs: number): void {
    const run = this.run;
    if (!run) return;
    run.clock.shift(stepMs);
    // The segment watchdog compares these with now: unshifted, a forward step looks like decades of silence.
    run.since += stepMs;
    if (run.lastSegmentAt !== undefined) run.lastSegmentAt += stepMs;
  }

  private async pollSegments(run = this.run): Promise<void> {
    if (!run) return;
    let listed;
    try {
      listed = await run.tail.poll();
    } catch (err) {
      this.deps.log.warn({ err: errorMessage(err) }, 'cannot read the segment list');
      return;
    }
    const now = this.deps.clock.now();
    // [hardening] Segment watchdog. ffmpeg (≥ 5.1) muxes each output in its own thread: a write
    // error on the card (ENOSPC on a full card) ends the recording output alone while the tap
    // goes on, so the stall watchdog never fires and recording would stay dead until a restart.
    // No segment for 3 segment lengths (≥ 10 s) while recording: restart ffmpeg (a new run).
    if (listed.length) run.lastSegmentAt = now;
    const quietMs = now - (run.lastSegmentAt ?? run.since);
    const limitMs = Math.max(10_000, 3 * (this.settings?.recording?.segmentSeconds ?? 10) * 1000);
    if (run === this.run && quietMs > limitMs) {
      run.lastSegmentAt = now;
      this.runner?.restart(`no recording segment for ${Math.round(quietMs / 1000)} s (the card refused a write?)`);
    }
    for (const l of listed) run.clock.observe(now, l.end);
    for (const l of listed) {
      if (run.handled.has(l.name)) continue;
      run.handled.add(l.name);
      const file = join(run.dir, l.name);
      const st = await fs.stat(file).catch(() => undefined);
      if (!st) continue;
      this.deps.onSegment({ lens: this.deps.lens, file, start: run.clock.wall(l.start), end: run.clock.wall(l.end), bytes: st.size, partial: false });
    }
  }

  /** After a run's ffmpeg exited: its last listed segments, then what it left unlisted (partial). */
  private async finishRun(run: Run): Promise<void> {
    try {
      await this.polling;
      await this.pollSegments(run);
      const { segments, empty } = await leftoverSegments(run.dir, run.tag, run.handled, run.clock.anchorMs);
      for (const f of empty) await fs.rm(f, { force: true });
      for (const s of segments) {
        this.deps.onSegment({ lens: this.deps.lens, ...s });
      }
      await fs.rm(join(run.dir, `${run.tag}.csv`), { force: true });
    } catch (err) {
      // The card may be gone: the storage service reports that; nothing to hand on.
      this.deps.log.warn({ err: errorMessage(err), run: run.tag }, 'could not finish the run\'s segments');
    }
  }

  private track(p: Promise<void>): void {
    this.finishing.add(p);
    void p.finally(() => this.finishing.delete(p));
  }
}
