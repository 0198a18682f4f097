import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LENSES } from '../../board/schema.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { relayPath } from '../capture/relay.js';
import type { LensName } from '../capture/types.js';
import type { ChildRunner } from '../supervisor/runner.js';
import type { Context, Service } from '../supervisor/service.js';
import { chooseBindAddress } from './address.js';
import type { RtspState } from './types.js';
import './types.js';

/** Debian's interpreter, where python3-gi and the GStreamer typelibs are (not a pyenv's or a venv's). */
const PYTHON = '/usr/bin/python3';
const USERNAME = 'camd';

/** The helper: scripts/rtsp/ in a checkout; share/rtsp/ in a release tree. */
export function helperPath(): string {
  const here = import.meta.dirname;
  const candidates = [resolve(here, '../../scripts/rtsp/camd-rtsp.py'), resolve(here, '../../../scripts/rtsp/camd-rtsp.py'), resolve(here, '../../../share/rtsp/camd-rtsp.py')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

const HelperLine = z.discriminatedUnion('event', [
  z.object({ event: z.literal('ready'), address: z.string(), port: z.number() }),
  z.object({ event: z.literal('viewer'), seq: z.number().int(), client: z.number().int(), path: z.string().nullable(), remote: z.string().nullable() }),
  z.object({ event: z.literal('gone'), client: z.number().int() }),
  z.object({ event: z.literal('refused'), reason: z.string(), remote: z.string().nullable() }),
  z.object({ event: z.literal('error'), message: z.string() }),
]);

interface Running {
  key: string;
  runner: ChildRunner;
  address: string;
  port: number;
}

/**
 * The local RTSP stream for NVRs (Frigate, Home Assistant, VLC): GStreamer's gst-rtsp-server in
 * a small Python helper (scripts/rtsp/camd-rtsp.py) that the daemon supervises. It serves each
 * lens's main stream from capture's relay as it was recorded (no re-encode) at
 * rtsp://<address>:<port>/<lens>, Digest auth with a random per-device password (secrets file),
 * TCP only. Off by default and switched on only locally (config `rtsp`, access local).
 *
 * Every client pulling video is a live viewer: the helper asks before a PLAY goes through, this
 * service adds the client to state.liveViewers (LED solid blue) and only then answers, so no
 * frame leaves uncounted. Sleep mode stops the server; so does a missing LAN address.
 */
export class RtspService implements Service {
  readonly name = 'rtsp';
  private running: Running | undefined;
  private readonly clients = new Set<number>();
  private readonly unsubs: (() => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private status: RtspState = { status: 'disabled', port: 0, urls: {}, clients: 0 };
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('rtsp');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    this.registerCommands();
    this.unsubs.push(
      ctx.config.onChange(this, (_c, paths) => {
        if (paths.some((p) => p.startsWith('rtsp.'))) void this.reconcile('settings changed');
      }),
      ctx.state.subscribe(this, (_s, changed) => {
        // Sleep: the gate is the state flag capture sets before it stops the lenses.
        if (changed.has('sleeping') || changed.has('network')) void this.reconcile(changed.has('sleeping') ? 'sleep mode changed' : 'network changed');
      }),
    );
    await this.reconcile('start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubs.splice(0)) u();
    await this.queue.catch(() => undefined);
    await this.stopServer();
  }

  reconcile(reason: string): Promise<void> {
    const run = this.queue.then(() => this.reconcileNow(reason));
    this.queue = run.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'rtsp reconcile failed'));
    return run;
  }

  private async reconcileNow(reason: string): Promise<void> {
    if (this.stopped) return;
    const { ctx } = this;
    const cfg = ctx.config.get().rtsp;
    const port = cfg.port;
    if (!cfg.enabled || ctx.state.get().sleeping || ctx.config.get().capture.sleep) {
      await this.stopServer();
      this.publish({ status: cfg.enabled ? 'sleeping' : 'disabled', port, urls: {}, clients: 0 });
      return;
    }
    const bind = chooseBindAddress(cfg.bindAddress, ctx.state.get().network);
    if (bind.address === undefined) {
      await this.stopServer();
      this.publish({ status: 'no-address', port, urls: {}, clients: 0, reason: bind.reason });
      return;
    }
    const key = JSON.stringify({ address: bind.address, port, max: cfg.maxClients });
    if (this.running?.key === key) return;
    await this.stopServer();
    const creds = await this.credentials();
    if (bind.wildcard) this.log.warn({ address: bind.address, port }, 'rtsp.bindAddress is a wildcard: the stream listens on EVERY interface (set on purpose in the config)');
    const urls: RtspState['urls'] = {};
    const host = bind.address.includes(':') ? `[${bind.address}]` : bind.address;
    for (const lens of LENSES) urls[lens] = `rtsp://${host}:${port}/${lens}`;
    this.publish({ status: 'starting', address: bind.address, port, urls, clients: 0 });
    const streams: Partial<Record<LensName, string>> = {};
    for (const lens of LENSES) streams[lens] = relayPath(ctx.paths.runDir, lens);
    // The settings (with the password) go on the helper's stdin, never on its command line.
    const settings = `${JSON.stringify({ address: bind.address, port, username: creds.username, password: creds.password, maxClients: cfg.maxClients, streams })}\n`;
    const runner = ctx.spawnChild({
      name: 'rtsp',
      command: PYTHON,
      args: [helperPath()],
      stdin: 'pipe',
      stdout: 'pipe',
      backoff: { baseMs: 1000, maxMs: 30_000 },
      failAfter: 5,
      onSpawn: (child) => this.attach(child, settings),
      onExit: ({ code, signal }) => this.onHelperExit(code, signal),
      onFailedChange: (failed) => {
        if (failed) this.publish({ ...this.status, status: 'failed', reason: this.status.reason ?? 'the RTSP helper keeps exiting' });
      },
    });
    this.running = { key, runner, address: bind.address, port };
    runner.start();
    this.log.info({ address: bind.address, port, from: bind.source, reason }, 'rtsp server starting');
  }

  /** The login: made once per device on first enable (random), kept in the secrets file. */
  private async credentials(): Promise<{ username: string; password: string }> {
    const have = this.ctx.secrets.get().rtsp;
    if (have) return have;
    const made = { username: USERNAME, password: randomBytes(18).toString('base64url') };
    await this.ctx.secrets.update((s) => ({ ...s, rtsp: made }));
    this.log.info('rtsp credentials created (see camctl call rtsp.info)');
    return made;
  }

  private attach(child: ChildProcess, settings: string): void {
    child.stdin?.on('error', () => undefined); // the helper died: its exit is handled in onExit
    child.stdin?.write(settings);
    if (!child.stdout) return;
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => this.onLine(child, line));
  }

  private onLine(child: ChildProcess, line: string): void {
    let parsed: z.infer<typeof HelperLine>;
    try {
      parsed = HelperLine.parse(JSON.parse(line));
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'unreadable line from the rtsp helper');
      return;
    }
    switch (parsed.event) {
      case 'ready':
        this.log.info({ address: parsed.address, port: parsed.port }, 'rtsp server listening');
        this.publish({ ...this.status, status: 'running', reason: undefined });
        return;
      case 'viewer':
        // Counted (LED solid blue) before the helper lets the PLAY through.
        this.clients.add(parsed.client);
        this.publishClients();
        child.stdin?.write(`${JSON.stringify({ ack: parsed.seq })}\n`);
        this.log.info({ client: parsed.client, path: parsed.path, remote: parsed.remote }, 'rtsp client playing');
        this.event('rtsp.client.started', { client: parsed.client, path: parsed.path, remote: parsed.remote });
        return;
      case 'gone':
        if (!this.clients.delete(parsed.client)) return;
        this.publishClients();
        this.log.info({ client: parsed.client }, 'rtsp client left');
        this.event('rtsp.client.ended', { client: parsed.client });
        return;
      case 'refused':
        this.log.warn({ reason: parsed.reason, remote: parsed.remote }, 'rtsp client refused');
        return;
      case 'error':
        this.log.error({ err: parsed.message }, 'rtsp helper failed');
        this.status = { ...this.status, reason: parsed.message };
        return;
    }
  }

  private onHelperExit(code: number | null, signal: string | null): void {
    // Its clients went with it.
    if (this.clients.size) {
      this.clients.clear();
      this.publishClients();
    }
    const status = this.status.status === 'failed' ? 'failed' : 'starting';
    if (this.running) this.publish({ ...this.status, status, reason: this.status.reason ?? `helper exited (${signal ?? code})` });
  }

  private async stopServer(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    if (r) {
      await r.runner.stop();
      this.log.info({ address: r.address, port: r.port }, 'rtsp server stopped');
    }
    this.clients.clear();
    this.ctx.state.setViewers('rtsp', 0);
  }

  private publishClients(): void {
    this.ctx.state.batch(() => {
      this.ctx.state.setViewers('rtsp', this.clients.size);
      this.publish({ ...this.status, clients: this.clients.size });
    });
  }

  private publish(s: RtspState): void {
    const next: RtspState = { ...s };
    if (next.reason === undefined) delete next.reason;
    if (next.address === undefined) delete next.address;
    this.status = next;
    this.ctx.state.set('rtsp', next);
  }

  private event(type: string, data: Record<string, unknown>): void {
    this.ctx.bus.emit('camera.event', { id: randomUUID(), ts: this.ctx.clock.now(), kind: 'live', type, data });
  }

  private registerCommands(): void {
    const { ctx } = this;
    ctx.commands.register(this, {
      name: 'rtsp.info',
      access: 'local',
      summary: 'the local RTSP stream: status, URLs and the login (local only: it shows the password)',
      args: z.object({}).strict(),
      handler: async () => {
        const cfg = ctx.config.get().rtsp;
        if (!cfg.enabled) throw new CamdError('unavailable', 'the RTSP stream is off (camctl config set rtsp.enabled true, and install scripts/systemd/camd-rtsp.conf)');
        const creds = await this.credentials();
        const st = this.status;
        const auth = `${creds.username}:${encodeURIComponent(creds.password)}@`;
        const withLogin = Object.fromEntries(Object.entries(st.urls).map(([lens, url]) => [lens, url.replace('rtsp://', `rtsp://${auth}`)]));
        return { ...st, username: creds.username, password: creds.password, urlsWithLogin: withLogin, auth: 'digest', transport: 'tcp' };
      },
    });
  }
}

export const rtspService = (ctx: Context): Service => new RtspService(ctx);
