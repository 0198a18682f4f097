import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { TimerHandle } from '../core/clock.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { projectRoot } from '../core/paths.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { OnceRunner } from '../supervisor/runner.js';
import type { Context, Service } from '../supervisor/service.js';
import { redact } from './fetch.js';
import { checkManifest, installRelease, type Checked, type FlowDeps, type UpdateRequest } from './flow.js';
import { ReleaseLayout, runningRelease, type RunningRelease } from './layout.js';
import { clearOutcome, clearTrial, readOutcome, readTrial, writeOutcome, type Outcome, type Trial } from './trial.js';
import type { ReleaseState, UpdatePhase, UpdateState } from './types.js';
import './types.js';

/** Exit code that asks the service manager to start the daemon again (Restart=on-failure). */
export const EXIT_RESTART = 75;
/** How often the trial looks at the daemon's health. */
const TRIAL_TICK_MS = 1000;
/** state.update is republished at most this often while bytes come in. */
const PROGRESS_MS = 1000;

/**
 * Firmware updates (README "Firmware updates"): `firmware.update {url}` from the cloud (https only,
 * TLS verified) and `firmware.install {source, allowDowngrade?}` locally (camctl update <file|url>);
 * the steps are in flow.ts. This service also owns the other half of the A/B switch: a release on
 * trial (trial.json names it) commits itself once it has been healthy for `update.trialSeconds`;
 * until then the boot guard counts its starts and switches back after `maxBoots`
 * (scripts/release/board/camd-boot-guard), which works even for a release that cannot start.
 * The outcome of the last update (`updated`, `rolled-back` + reason) is in `state.release.lastUpdate`
 * and a `firmware.*` event after the next boot.
 */
export class UpdateService implements Service {
  readonly name = 'update';
  private readonly log: Logger;
  private running!: RunningRelease;
  private layout: ReleaseLayout | undefined;
  private readonly procs: OnceRunner;
  private busy: AbortController | undefined;
  private job: Promise<void> | undefined;
  private trial: Trial | undefined;
  private healthySince: number | undefined;
  private cloudSeen = false;
  private trialTimer: TimerHandle | undefined;
  private lastProgress = 0;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('update');
    this.procs = new OnceRunner({ clock: ctx.clock, log: this.log, state: ctx.state });
  }

  async start(): Promise<void> {
    this.running = await runningRelease(projectRoot(import.meta.url));
    this.layout = this.running.base ? new ReleaseLayout(this.running.base) : undefined;
    this.setUpdate({ phase: 'idle' });
    this.registerCommands();
    if (this.layout) {
      await this.publishOutcome(this.layout);
      await this.beginTrial(this.layout);
    }
    this.publishRelease();
    this.log.info({ version: this.running.version, release: this.running.id ?? null, onTrial: !!this.trial }, this.running.id ? 'running release' : 'development run: not an installed release, updates are refused');
  }

  async stop(): Promise<void> {
    this.ctx.clock.clearInterval(this.trialTimer);
    this.trialTimer = undefined;
    this.busy?.abort();
    await this.job?.catch(() => undefined);
    await this.procs.stopAll();
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'firmware.update',
      access: 'cloud',
      summary: 'update the firmware from a signed release manifest at an https:// URL (the tarball beside it); progress in state.update',
      args: z.object({ url: z.string().max(2048) }).strict(),
      handler: ({ url }) => this.begin({ source: url, allowFile: false, allowDowngrade: false }),
    });
    ctx.commands.register(this, {
      name: 'firmware.install',
      // A file on the camera, or a downgrade: only someone at the camera's shell decides that.
      access: 'local',
      summary: 'update from a signed manifest: a local file path or an https:// URL; allowDowngrade to go back to an older version',
      args: z.object({ source: z.string().min(1).max(2048), allowDowngrade: z.boolean().default(false) }).strict(),
      handler: ({ source, allowDowngrade }) => this.begin({ source, allowFile: true, allowDowngrade }),
    });
  }

  /**
   * Checks the manifest (signature, arch, version) and answers; the download, unpack and switch
   * go on in the background (state.update, `firmware.update` events) and end in a restart.
   */
  private async begin(req: UpdateRequest): Promise<Record<string, unknown>> {
    const running = this.running;
    if (!this.layout || !running.id || !running.dir) throw new CamdError('unavailable', 'not running from an installed release (a development run): updates need a release tree', 'url');
    if (this.busy) throw new CamdError('busy', `an update is already in progress (${this.ctx.state.get().update?.phase ?? '?'})`);
    if (this.trial) throw new CamdError('busy', `release ${running.id} is still on trial: update once it has proven itself`);
    if (this.ctx.state.get().sleeping) throw new CamdError('unavailable', 'the camera is in sleep mode');
    const busy = (this.busy = new AbortController());
    const deps = this.flowDeps(this.layout, { ...running, id: running.id, dir: running.dir });
    let checked: Checked;
    try {
      this.setUpdate({ phase: 'checking' });
      deps.fetch.ca = await this.ownerCa();
      checked = await checkManifest(req, deps);
    } catch (err) {
      this.busy = undefined;
      this.fail(err);
      throw err;
    }
    const m = checked.manifest;
    this.log.info({ version: m.version, keyId: checked.keyId, bytes: m.tarball.bytes, from: redact(checked.tarballUrl) }, 'firmware update accepted');
    this.event('firmware.update', { phase: 'accepted', version: m.version, from: running.version, keyId: checked.keyId });
    this.job = this.install(checked, deps, busy.signal).finally(() => {
      this.busy = undefined;
      this.job = undefined;
    });
    return { accepted: true, version: m.version, from: running.version, bytes: m.tarball.bytes, keyId: checked.keyId };
  }

  private async install(checked: Checked, deps: FlowDeps, signal: AbortSignal): Promise<void> {
    const started = this.ctx.clock.now();
    try {
      const id = await installRelease(checked, deps, signal);
      const ms = this.ctx.clock.now() - started;
      this.setUpdate({ phase: 'restarting', version: checked.manifest.version });
      this.log.info({ release: id, ms }, 'firmware update switched: restarting into the new release');
      this.event('firmware.update', { phase: 'restarting', version: checked.manifest.version, release: id, ms });
      // Exit non-zero so the service manager (systemd: Restart=on-failure) starts the new `current`.
      this.ctx.clock.setTimeout(() => this.ctx.lifecycle.requestShutdown('firmware update', EXIT_RESTART), 50);
    } catch (err) {
      if (signal.aborted) {
        this.setUpdate({ phase: 'idle' });
        return;
      }
      this.fail(err, checked.manifest.version);
    }
  }

  private flowDeps(layout: ReleaseLayout, running: FlowDeps['running']): FlowDeps {
    const cfg = this.ctx.config.get().update;
    return {
      layout,
      running,
      run: (spec) => this.procs.run(spec),
      log: this.log,
      now: () => this.ctx.clock.now(),
      fetch: {},
      onPhase: (phase, extra) => this.onPhase(phase, extra),
      maxBoots: cfg.maxBoots,
      cloudConnected: this.ctx.state.get().cloud?.connected === true,
    };
  }

  private onPhase(phase: UpdatePhase, extra: { bytes?: number; total?: number; version?: string } = {}): void {
    const now = this.ctx.clock.now();
    const prev = this.ctx.state.get().update;
    if (phase === 'downloading' && prev?.phase === 'downloading' && extra.bytes !== extra.total && now - this.lastProgress < PROGRESS_MS) return;
    this.lastProgress = now;
    if (prev?.phase !== phase) this.event('firmware.update', { phase, ...extra });
    this.setUpdate({ phase, ...extra });
  }

  private fail(err: unknown, version?: string): void {
    const error = errorMessage(err);
    this.log.warn({ err: error, version }, 'firmware update failed');
    this.setUpdate({ phase: 'failed', error, ...(version ? { version } : {}) });
    this.event('firmware.update', { phase: 'failed', error, ...(version ? { version } : {}) });
  }

  private async ownerCa(): Promise<string | undefined> {
    const file = this.ctx.secrets.get().update?.caFile;
    if (!file) return undefined;
    const pem = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new CamdError('unavailable', `secrets update.caFile ${file}: cannot read it (${e.code ?? 'error'})`, 'url');
    });
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CamdError('unavailable', `secrets update.caFile ${file}: not a PEM certificate`, 'url');
    return pem;
  }

  // --- the trial of a freshly switched release ---------------------------------------------

  private async beginTrial(layout: ReleaseLayout): Promise<void> {
    const t = await readTrial(layout);
    if (!t) return;
    if (t.release !== this.running.id) {
      // The guard (or someone by hand) switched away from the release on trial: nothing to prove.
      this.log.warn({ trial: t.release, running: this.running.id }, 'trial file names another release: removed');
      await clearTrial(layout);
      return;
    }
    this.trial = t;
    this.log.info({ release: t.release, boot: t.boots, maxBoots: t.maxBoots, needs: this.ctx.config.get().update.trialSeconds }, 'release on trial');
    this.trialTimer = this.ctx.clock.setInterval(() => void this.checkTrial(layout), TRIAL_TICK_MS);
  }

  /** Healthy = running, every service up, and the cloud link back once if it was up before the update. */
  private healthy(): boolean {
    const s = this.ctx.state.get();
    if (s.cloud?.connected) this.cloudSeen = true;
    // Degraded is up (a service that runs with a problem it reports, e.g. no card); failed or never started is not.
    const servicesUp = Object.values(s.services).every((h) => h.status === 'running' || h.status === 'degraded' || h.status === 'disabled');
    return s.lifecycle === 'running' && servicesUp && (!this.trial?.cloudWasConnected || this.cloudSeen);
  }

  private async checkTrial(layout: ReleaseLayout): Promise<void> {
    const t = this.trial;
    if (!t) return;
    const now = this.ctx.clock.now();
    if (!this.healthy()) {
      this.healthySince = undefined;
    } else {
      this.healthySince ??= now;
      if (now - this.healthySince >= this.ctx.config.get().update.trialSeconds * 1000) {
        this.ctx.clock.clearInterval(this.trialTimer);
        this.trialTimer = undefined;
        await this.commit(layout, t).catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'could not commit the trial'));
        return;
      }
    }
    this.publishRelease();
  }

  private async commit(layout: ReleaseLayout, t: Trial): Promise<void> {
    const outcome: Outcome = { outcome: 'updated', from: t.from, to: t.to, release: t.release, ts: this.ctx.clock.now() };
    await writeOutcome(layout, outcome);
    await clearTrial(layout);
    this.trial = undefined;
    this.healthySince = undefined;
    await this.installGuard(layout);
    await this.prune(layout);
    this.log.info({ release: t.release, from: t.from }, 'release proved itself: update committed');
    await this.publishOutcome(layout);
  }

  /** The guard runs before every start from <base>/bin, outside any release: a committed release brings its own. */
  private async installGuard(layout: ReleaseLayout): Promise<void> {
    if (!this.running.dir) return;
    const src = join(this.running.dir, 'bin', 'camd-boot-guard');
    const body = await fs.readFile(src).catch(() => undefined);
    if (!body) return;
    await fs.mkdir(join(layout.base, 'bin'), { recursive: true });
    await writeFileAtomic(join(layout.base, 'bin', 'camd-boot-guard'), body, 0o755);
  }

  /** Keeps `current` and `previous` (and nothing half-unpacked). */
  private async prune(layout: ReleaseLayout): Promise<void> {
    const keep = new Set([await layout.linked('current'), await layout.linked('previous')]);
    for (const name of await fs.readdir(layout.releases).catch(() => [] as string[])) {
      if (!keep.has(name)) await fs.rm(join(layout.releases, name), { recursive: true, force: true });
    }
  }

  /** outcome.json of the last update: into the state and the cloud's events, then gone (the outbox keeps the event). */
  private async publishOutcome(layout: ReleaseLayout): Promise<void> {
    const o = await readOutcome(layout);
    if (!o) return;
    this.lastOutcome = o;
    this.event(`firmware.${o.outcome}`, { ...o });
    this.publishRelease();
    await clearOutcome(layout);
  }

  private lastOutcome: Outcome | undefined;

  private publishRelease(): void {
    const r = this.running;
    const t = this.trial;
    const next: ReleaseState = {
      version: r.version,
      ...(r.commit ? { commit: r.commit } : {}),
      ...(r.arch ? { arch: r.arch } : {}),
      ...(r.builtAt ? { builtAt: r.builtAt } : {}),
      ...(r.id ? { id: r.id } : {}),
      installed: !!r.id,
      ...(t
        ? { trial: { status: 'on-trial' as const, boots: t.boots, maxBoots: t.maxBoots, since: t.since, needs: this.ctx.config.get().update.trialSeconds, ...(this.healthySince ? { healthySince: this.healthySince } : {}) } }
        : {}),
      ...(this.lastOutcome ? { lastUpdate: this.lastOutcome } : {}),
    };
    if (JSON.stringify(next) !== JSON.stringify(this.ctx.state.get().release)) this.ctx.state.set('release', next);
  }

  private setUpdate(u: Omit<UpdateState, 'since'>): void {
    this.ctx.state.set('update', { ...u, since: this.ctx.clock.now() });
  }

  private event(type: string, data: Record<string, unknown>): void {
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind: 'system', type, data });
  }
}

export const updateService = (ctx: Context): Service => new UpdateService(ctx);
