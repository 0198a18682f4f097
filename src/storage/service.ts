import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LENSES } from '../../board/schema.js';
import type { TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { clockSynced } from '../core/clock-sync.js';
import '../domain/clock.js';
import { ConfirmationTokens } from '../commands/confirm.js';
import { OnceRunner } from '../supervisor/runner.js';
import type { Context, Service } from '../supervisor/service.js';
import { classifyCard, probeCard, type CardStatus } from './card.js';
import { describeCard, forgetCard, initialiseCard } from './initialise.js';
import { ownerRecordFile } from '../domain/card-layout.js';
import { RecordingIndex } from './recording-index.js';
import { Recorder } from './recorder.js';
import { bytesToFree, runAgeRetention, runRetention } from './retention.js';
import { openClip, planClip } from './clip.js';
import { ClipUploads } from './upload.js';
import { checkMediaUrl } from '../live/url-policy.js';
import { sleepGate } from '../state/sleep-gate.js';
import type { StorageState } from './types.js';
import { KeepPolicy } from './windows.js';
import '../capture/types.js';
import './types.js';

const Lens = z.enum(LENSES);
const POLL_MS = 1000;
const WRITE_TEST_MS = 30_000;
const FAULT = 'storage.card';
/** Free a little more than the threshold so retention does not run at every segment. */
const HYSTERESIS_PERCENT = 2;
/** Time-based retention looks at the card this often (and at once when the setting changes). */
const AGE_RETENTION_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * The microSD card: its lifecycle (absent / not-initialised / in-use / full / error), initialise,
 * retention, the recordings index and what gets recorded (recorder.ts).
 *
 * - Detection: presence from the mount (board: something mounted at the card mount point; sim:
 *   the directory exists), read-only from /proc/mounts and from failed writes (a test write every
 *   30 s, and at once when capture or the recorder reports a write failure), the ownership marker
 *   `.camd-card` matched against the card id this camera keeps on its flash.
 * - A card error, or a card that disappears while in use, is a camera fault (fast red) and a
 *   storage event, never a crash; the fault clears when a card is in use again.
 * - Factory reset removes the marker from the card and the card id from the flash: a new owner's
 *   app sees "not initialised" and cannot list the old recordings without initialising (which
 *   wipes them). The recordings themselves stay on the card: they are the previous owner's data,
 *   and an owner who keeps the card keeps them (readable on a computer).
 * - A full card is not a broken one: a test write that meets ENOSPC/EDQUOT means low space, so
 *   retention runs (deleting needs no room; the index rewrite falls back to files-first when
 *   even that cannot be written: recording-index.ts); `full` only when nothing is left to delete.
 *   Segments the card could not take wait in staging and are kept once there is room.
 * - Recording never depends on the network: nothing here looks at the cloud.
 */
export class StorageService implements Service {
  readonly name = 'storage';
  private readonly log: Logger;
  private readonly policy: KeepPolicy;
  private readonly recorder: Recorder;
  private readonly procs: OnceRunner;
  private index: RecordingIndex | undefined;
  private ownCardId: string | undefined;
  private probing: Promise<void> = Promise.resolve();
  private pollTimer: TimerHandle | undefined;
  private tickTimer: TimerHandle | undefined;
  private lastWriteTest = 0;
  /** Sim board: once the card directory was seen as a mount of its own, unmounting it = card pulled out. */
  private sawOwnMount = false;
  private initialising = false;
  private readonly tokens: ConfirmationTokens;
  private readonly unsubs: (() => void)[] = [];
  private readonly uploads: ClipUploads;
  private lastAgeRetention = -Infinity;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('storage');
    this.tokens = new ConfirmationTokens(ctx.clock);
    this.procs = new OnceRunner({ log: this.log, clock: ctx.clock, state: ctx.state });
    this.policy = new KeepPolicy(() => {
      const r = ctx.config.get().recording;
      return { mode: r.mode, preRollMs: r.preRollSeconds * 1000, postRollMs: r.postRollSeconds * 1000 };
    });
    this.uploads = new ClipUploads({
      log: this.log,
      now: () => ctx.clock.now(),
      state: { get: () => ctx.state.get().clipUpload, set: (st) => ctx.state.set('clipUpload', st) },
      event: (type, data) => this.event(type, data),
      // The CA live pushes and talk trust: clips go to the same media backend.
      caFile: () => ctx.secrets.get().media?.caFile,
      publicOnly: () => !ctx.config.get().live.allowLocalTargets,
    });
    this.recorder = new Recorder({
      policy: this.policy,
      index: () => (this.status() === 'in-use' || this.status() === 'full' ? this.index : undefined),
      now: () => ctx.clock.now(),
      clockSynced,
      card: () => this.status(),
      log: this.log,
      onCardError: (reason) => {
        this.check(reason, true).catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'card check failed'));
      },
    });
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.ownCardId = await this.readOwner();
    ctx.bus.on(this, 'storage.check', ({ reason }) => this.check(reason, true));
    ctx.bus.on(this, 'clock.stepped', ({ stepMs }) => {
      void this.recorder.onClockStep(stepMs).then(() => this.publishRecording());
    });
    ctx.bus.on(this, 'capture.segment', (seg) => this.recorder.onSegment(seg).then(() => this.publishRecording()));
    ctx.bus.on(this, 'detection.episode', (e) => {
      const { clip, kept } = this.recorder.onEpisode(e);
      // Synchronous, inside the episode's delivery: the detection service finds the clip for
      // its cloud record as soon as its emit returns (src/domain/episode.ts).
      ctx.bus.emit('recording.clip', clip);
      return kept?.then(() => this.publishRecording());
    });
    this.unsubs.push(
      ctx.config.onChange(this, (_c, paths) => {
        if (paths.includes('recording.retainDays')) this.lastAgeRetention = -Infinity;
        if (paths.some((p) => p.startsWith('recording.'))) void this.check('settings changed', false);
      }),
    );
    // Sleep is privacy: no video leaves the camera while it sleeps, recorded or not (README).
    this.unsubs.push(
      sleepGate(ctx).onChange((asleep) => {
        if (asleep) void this.uploads.cancel('the camera went to sleep (privacy mode)');
      }),
    );
    ctx.factoryReset.register(this, 'card-marker', () => this.forgetCard());
    this.registerCommands();
    await this.check('start', true);
    if (this.status() === 'in-use' || this.status() === 'full') await this.reconcileRecent();
    this.pollTimer = ctx.clock.setInterval(() => void this.check('poll', false), POLL_MS);
    this.tickTimer = ctx.clock.setInterval(() => void this.recorder.tick(ctx.config.get().recording.segmentSeconds * 1000 * 3).then(() => this.publishRecording()), 1000);
  }

  async stop(): Promise<void> {
    for (const u of this.unsubs.splice(0)) u();
    await this.uploads.cancel('camd is stopping');
    this.ctx.clock.clearInterval(this.pollTimer);
    this.ctx.clock.clearInterval(this.tickTimer);
    await this.probing;
    await this.recorder.idle();
    if (this.status() === 'in-use' || this.status() === 'full') await this.recorder.dropWaiting();
    await this.procs.stopAll();
  }

  private status(): CardStatus | undefined {
    return this.ctx.state.get().storage?.status;
  }

  /** One probe at a time; `writeTest` forces a test write (otherwise every 30 s). */
  check(reason: string, writeTest: boolean): Promise<void> {
    const run = this.probing.then(() => this.probeNow(reason, writeTest));
    this.probing = run.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'card check failed'));
    return this.probing;
  }

  private async probeNow(why: string, forceWrite: boolean): Promise<void> {
    if (this.initialising) return;
    const { ctx } = this;
    const now = ctx.clock.now();
    const minFree = ctx.config.get().recording.minFreePercent;
    const writeTest = forceWrite || now - this.lastWriteTest >= WRITE_TEST_MS;
    const dir = ctx.paths.cardMount;
    const requireMount = ctx.board.backend === 'hardware' || this.sawOwnMount;
    let probe = await probeCard({ dir, requireMount, writeTest, ownCardId: this.ownCardId });
    if (probe.mount?.mountPoint === dir) this.sawOwnMount = true;
    if (writeTest) this.lastWriteTest = now;
    let c = classifyCard(probe, this.ownCardId, minFree);
    let status: CardStatus = c.status;
    let reason = c.reason;
    let lastRetention = ctx.state.get().storage?.lastRetention;
    if (c.status === 'in-use') {
      this.index ??= new RecordingIndex(dir);
      if (c.lowSpace && probe.totalBytes) {
        // A test write that found no room wants at least one recording gone, whatever statfs says.
        const need = Math.max(bytesToFree(probe.totalBytes, probe.freeBytes ?? 0, minFree + HYSTERESIS_PERCENT), probe.noSpace ? 1 : 0);
        try {
          const r = await runRetention(this.index, LENSES, need);
          if (r.deletedRecordings || r.deletedStills) {
            lastRetention = { at: now, ...r };
            this.log.info({ need, ...r }, 'retention: oldest recordings deleted');
            this.event('card.retention', { deletedRecordings: r.deletedRecordings, deletedStills: r.deletedStills, freedBytes: r.freedBytes });
          }
          probe = await probeCard({ dir, requireMount, writeTest: false });
          c = classifyCard(probe, this.ownCardId, minFree);
          status = c.status;
          reason = c.reason;
          if (c.status === 'in-use' && c.lowSpace && r.exhausted) {
            status = 'full';
            reason = `free space ${c.freePercent?.toFixed(1)}% is below ${minFree}% and there are no more recordings to delete`;
          }
        } catch (err) {
          status = 'error';
          reason = `retention failed: ${errorMessage(err)}`;
        }
      }
      const retainDays = ctx.config.get().recording.retainDays;
      if (retainDays > 0 && status === 'in-use' && now - this.lastAgeRetention >= AGE_RETENTION_MS) {
        this.lastAgeRetention = now;
        try {
          const r = await runAgeRetention(this.index, LENSES, now - retainDays * DAY_MS);
          if (r.deletedRecordings || r.deletedStills) {
            lastRetention = { at: now, ...r };
            this.log.info({ retainDays, ...r }, 'retention: recordings older than the limit deleted');
            this.event('card.retention', { reason: 'age', retainDays, ...r });
          }
        } catch (err) {
          // Not a card fault by itself: the next write test tells whether the card is at fault.
          this.log.warn({ err: errorMessage(err) }, 'time-based retention failed');
        }
      }
      // Room on the card: segments a full card could not take are kept now.
      if (status === 'in-use' && !c.lowSpace) void this.recorder.retryUnkept().then(() => this.publishRecording());
    } else {
      this.index = undefined;
    }
    this.apply({
      status,
      reason,
      mount: dir,
      ...(probe.marker && status !== 'not-initialised' ? { cardId: probe.marker.cardId } : {}),
      readOnly: probe.readOnly,
      ...(probe.totalBytes !== undefined ? { totalBytes: probe.totalBytes, freeBytes: probe.freeBytes, freePercent: round1(c.freePercent) } : {}),
      minFreePercent: minFree,
      checkedAt: now,
      ...(lastRetention ? { lastRetention } : {}),
    }, why);
  }

  /** Publishes the new state; transitions become events and faults. */
  private apply(next: StorageState, why: string): void {
    const { ctx } = this;
    const prev = ctx.state.get().storage;
    const was = prev?.status;
    if (prev && was === next.status && prev.reason === next.reason && prev.readOnly === next.readOnly && prev.cardId === next.cardId) {
      // Free space moves with every segment: republish it only when it moved visibly or a minute passed.
      const moved = Math.abs((prev.freePercent ?? 0) - (next.freePercent ?? 0)) >= 0.5 || prev.lastRetention !== next.lastRetention;
      if (moved || next.checkedAt - prev.checkedAt >= 60_000) ctx.state.set('storage', next);
      return;
    }
    ctx.state.set('storage', next);
    this.log.info({ from: was, to: next.status, reason: next.reason, why }, 'card state');
    const wasUsed = was === 'in-use' || was === 'full';
    if (next.status === 'in-use' || next.status === 'full') {
      ctx.state.clearFault(FAULT);
      if (!wasUsed) this.event('card.ready', { cardId: next.cardId });
      if (next.status === 'full' && was !== 'full') this.event('card.full', { freePercent: next.freePercent });
      return;
    }
    if (next.status === 'error') {
      ctx.state.raiseFault(FAULT, { kind: 'camera', component: 'storage', message: next.reason }, ctx.clock.now());
      this.event(next.readOnly ? 'card.readonly' : 'card.error', { reason: next.reason });
      return;
    }
    if (wasUsed) {
      // In use a moment ago, now gone or not ours: removed or swapped while recording.
      this.recorder.forgetStaging();
      const message = next.status === 'absent' ? 'card removed while in use' : 'card replaced or its marker vanished while in use';
      ctx.state.raiseFault(FAULT, { kind: 'camera', component: 'storage', message }, ctx.clock.now());
      this.event('card.removed', { now: next.status, reason: message });
      return;
    }
    if (was === 'absent' && next.status === 'not-initialised') this.event('card.inserted', {});
    if (was === 'error') ctx.state.clearFault(FAULT);
  }

  private event(type: string, data: Record<string, unknown>): void {
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind: 'storage', type, data });
  }

  private publishRecording(): void {
    const mode = this.ctx.config.get().recording.mode;
    const next = { mode, lenses: Object.fromEntries(LENSES.map((l) => [l, this.recorder.state(l, mode)])) };
    if (JSON.stringify(next) !== JSON.stringify(this.ctx.state.get().recording)) this.ctx.state.set('recording', next);
  }

  /** A crash can leave the newest days (and the oldest, mid-retention) out of step with their index. */
  private async reconcileRecent(): Promise<void> {
    const index = this.index;
    if (!index) return;
    for (const lens of LENSES) {
      try {
        const days = await index.days(lens);
        for (const day of new Set([days[0], ...days.slice(-2)].filter((d): d is string => !!d))) {
          const r = await index.reconcile(lens, day);
          if (r.added || r.dropped) this.log.warn({ lens, day, ...r }, 'recording index repaired');
        }
      } catch (err) {
        this.log.warn({ lens, err: errorMessage(err) }, 'could not check the recording index');
      }
    }
  }

  private async readOwner(): Promise<string | undefined> {
    try {
      const o = JSON.parse(await fs.readFile(ownerRecordFile(this.ctx.paths.dataDir), 'utf8')) as { cardId?: unknown };
      return typeof o.cardId === 'string' ? o.cardId : undefined;
    } catch {
      return undefined;
    }
  }

  private async forgetCard(): Promise<void> {
    await forgetCard(this.ctx, this.ownCardId);
    this.ownCardId = undefined;
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'storage.initialise',
      access: 'cloud',
      summary: 'wipe (sim) or format (board) the microSD card and take it into use; call once for a token, again with it',
      args: z.object({ confirm: z.string().max(64).optional() }).strict(),
      handler: async ({ confirm }) => {
        await this.probing;
        const st = ctx.state.get().storage;
        if (!st || st.status === 'absent') throw new CamdError('unavailable', 'no microSD card in the slot', 'confirm');
        // The first step says what would go, as data (camctl storage initialise shows it).
        const details = confirm ? undefined : { card: await describeCard(ctx.paths.cardMount, st) };
        this.tokens.check(confirm, 'initialising erases everything on the card', details);
        if (this.initialising) throw new CamdError('busy', 'the card is already being initialised');
        return this.initialise();
      },
    });
    ctx.commands.register(this, {
      name: 'recordings.list',
      access: 'cloud',
      summary: 'recordings of one lens overlapping [from, to] (epoch ms), oldest first',
      args: z
        .object({ lens: Lens, from: z.number().int().min(0).optional(), to: z.number().int().min(0).optional(), limit: z.number().int().min(1).max(10_000).default(1000) })
        .strict(),
      handler: async ({ lens, from, to, limit }) => {
        const f = from ?? 0;
        const t = to ?? ctx.clock.now();
        if (f > t) throw new CamdError('invalid_args', '"from" is after "to"', 'from');
        const index = this.usableIndex();
        return { lens, from: f, to: t, ...(await index.list(lens, f, t, limit)) };
      },
    });
    ctx.commands.register(this, {
      name: 'recordings.upload',
      access: 'cloud',
      summary: 'send the recordings of one lens overlapping [from, to] (epoch ms), joined as one MPEG-TS, with an HTTPS PUT to a presigned url; answers at once with the upload id and size, progress in state.clipUpload',
      args: z.object({ lens: Lens, from: z.number().int().min(0), to: z.number().int().min(0), url: z.string().min(1).max(4096) }).strict(),
      handler: async ({ lens, from, to, url }) => {
        if (sleepGate(ctx).asleep()) throw new CamdError('unavailable', 'the camera is in sleep mode (privacy): no clip leaves it', 'lens');
        if (this.uploads.busy) throw new CamdError('busy', 'an upload is running; one at a time (recordings.upload.cancel stops it)');
        const { allowLocalTargets } = ctx.config.get().live;
        // The media URL policy as live view has it; plaintext is refused for uploads whatever the setting.
        const target = await checkMediaUrl(url, 'upload', { allowPlaintext: false, allowLocalTargets });
        const plan = await planClip(this.usableIndex(), lens, from, to, ctx.config.get().recording.uploadMaxBytes);
        return { lens, ...(await this.uploads.start(await openClip(plan), target)) };
      },
    });
    ctx.commands.register(this, {
      name: 'recordings.upload.cancel',
      access: 'cloud',
      summary: 'stop the running recordings.upload',
      args: z.object({}).strict(),
      handler: async () => ({ cancelled: (await this.uploads.cancel('cancelled by recordings.upload.cancel')) ?? null }),
    });
    ctx.commands.register(this, {
      name: 'recordings.clip',
      access: 'local',
      summary: 'the recording files of one lens overlapping [from, to] (epoch ms), oldest first, for camctl recordings get',
      args: z.object({ lens: Lens, from: z.number().int().min(0), to: z.number().int().min(0) }).strict(),
      handler: async ({ lens, from, to }) => {
        // Local: bounded only by the card; the owner at the shell writes where they choose.
        const plan = await planClip(this.usableIndex(), lens, from, to, Number.MAX_SAFE_INTEGER);
        return { lens, from, to, start: plan.start, end: plan.end, total: plan.total, files: plan.segments.map((s) => ({ path: s.path, bytes: s.bytes, start: s.start, end: s.end })) };
      },
    });
    ctx.commands.register(this, {
      name: 'record.start',
      access: 'cloud',
      summary: 'manual recording of one lens from now until record.stop',
      args: z.object({ lens: Lens }).strict(),
      handler: async ({ lens }) => {
        if (ctx.state.get().sleeping) throw new CamdError('unavailable', 'the camera is in sleep mode', 'lens');
        if (this.status() !== 'in-use') throw new CamdError('unavailable', `cannot record: card is ${this.status() ?? 'absent'}`, 'lens');
        const started = await this.recorder.startManual(lens);
        this.publishRecording();
        this.event('record.start', { lens, already: !started });
        return { lens, recording: true, already: !started };
      },
    });
    ctx.commands.register(this, {
      name: 'record.stop',
      access: 'cloud',
      summary: 'stop the manual recording of one lens',
      args: z.object({ lens: Lens }).strict(),
      handler: ({ lens }) => {
        const stopped = this.recorder.stopManual(lens);
        this.publishRecording();
        if (stopped) this.event('record.stop', { lens });
        return { lens, recording: false, wasRecording: stopped };
      },
    });
  }

  private usableIndex(): RecordingIndex {
    const st = this.ctx.state.get().storage;
    if (!this.index || !(st?.status === 'in-use' || st?.status === 'full')) {
      throw new CamdError('unavailable', `no recordings to list: card is ${st?.status ?? 'absent'}${st ? ` (${st.reason})` : ''}`);
    }
    return this.index;
  }

  /** Capture stops writing, the card is wiped/formatted, marked ours, and taken into use. */
  private async initialise(): Promise<unknown> {
    const { ctx } = this;
    const prev = ctx.state.get().storage!;
    this.initialising = true;
    this.index = undefined;
    const startedAt = ctx.clock.now();
    const during = (phase: string): StorageState => ({ ...prev, status: 'not-initialised', reason: 'initialising', initialising: true, initialise: { phase, startedAt }, checkedAt: ctx.clock.now() });
    ctx.state.set('storage', during('starting'));
    try {
      // The phases in state.storage.initialise (src/domain/progress.ts says why the state).
      const marker = await initialiseCard(ctx, this.procs, (phase) => ctx.state.set('storage', during(phase)));
      this.recorder.forgetStaging();
      this.ownCardId = marker.cardId;
      this.log.warn({ cardId: marker.cardId }, 'card initialised');
      this.event('card.initialised', { cardId: marker.cardId });
      this.initialising = false;
      await this.check('initialised', true);
      const st = ctx.state.get().storage!;
      return { cardId: marker.cardId, status: st.status, totalBytes: st.totalBytes, freeBytes: st.freeBytes };
    } catch (err) {
      this.initialising = false;
      const message = `initialising the card failed: ${errorMessage(err)}`;
      this.apply({ ...prev, status: 'error', reason: message, checkedAt: ctx.clock.now() }, 'initialise');
      throw err instanceof CamdError ? err : new CamdError('failed', message);
    }
  }
}

function round1(n: number | undefined): number | undefined {
  return n === undefined ? undefined : Math.round(n * 10) / 10;
}

export const storageService = (ctx: Context): Service => new StorageService(ctx);
