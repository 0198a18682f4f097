import { createServer, type Server, type Socket } from 'node:net';
import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CamdError, errorMessage, type ErrorBody } from '../core/errors.js';
import { assertJsonDepth } from '../core/json-depth.js';
import { LOG_LEVELS, type LogLine } from '../core/log.js';
import { redactDeep } from '../core/redact.js';
import type { CameraEvent } from '../state/bus.js';
import type { Context, Service } from '../supervisor/service.js';

/**
 * Local control for camctl: JSON lines over a Unix socket, mode 0600 in a 0700 directory, no TCP
 * listener. One request per line: {"id":1,"cmd":"status","args":{}} → {"id":1,"ok":true,"result":…}.
 * `logs.follow`, `events.follow` and commands that stream (`sim.timeline.follow`) send
 * {"id":…,"stream":…} lines until the client hangs up.
 */
export const MAX_LINE_BYTES = 64 * 1024;

const Request = z
  .object({
    id: z.union([z.string().max(64), z.number()]).optional(),
    cmd: z.string().min(1).max(64),
    args: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** The most past log lines `logs.follow` sends (the ring holds about this many). */
const MAX_BACKLOG = 1000;

const levelNumber: Record<string, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 };

export class ControlServer implements Service {
  readonly name = 'control';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('control');
  }

  async start(): Promise<void> {
    const path = this.ctx.paths.socket;
    await fs.rm(path, { force: true });
    const server = createServer((sock) => this.onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await fs.chmod(path, 0o600);
    this.server = server;
    this.log.info({ path }, 'control socket listening');
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.rm(this.ctx.paths.socket, { force: true });
  }

  private onConnection(sock: Socket): void {
    this.sockets.add(sock);
    const cleanups: (() => void)[] = [];
    sock.on('close', () => {
      this.sockets.delete(sock);
      for (const c of cleanups) c();
    });
    sock.on('error', () => undefined);
    let buf = '';
    sock.setEncoding('utf8');
    // Once the server has decided to hang up (an unterminated line over the limit), nothing more
    // from this connection runs: its replies could not be written any more.
    let hangingUp = false;
    sock.on('data', (chunk: string) => {
      if (hangingUp) return;
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (this.rejectOversize(sock, line)) continue;
        if (line) void this.handle(sock, line, cleanups);
      }
      // An unterminated line already over the limit can only grow: answer and hang up.
      if (this.rejectOversize(sock, buf)) {
        buf = '';
        hangingUp = true;
        sock.end();
      }
    });
  }

  /** Answers `too_large` for a request line over the limit; true when it did. */
  private rejectOversize(sock: Socket, line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (bytes <= MAX_LINE_BYTES) return false;
    this.reply(sock, undefined, { ok: false, error: { code: 'too_large', message: `request line over ${MAX_LINE_BYTES} bytes` } });
    this.log.warn({ bytes }, 'oversize control request');
    return true;
  }

  private async handle(sock: Socket, line: string, cleanups: (() => void)[]): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      const error: ErrorBody = { code: 'malformed', message: `not JSON: ${errorMessage(err)}` };
      this.log.warn({ error }, 'malformed control request');
      return this.reply(sock, undefined, { ok: false, error });
    }
    // [hardening] Same checks as the cloud (src/core/json-depth.ts) on the raw line, before zod:
    // the handlers recurse, and zod would drop a `__proto__` key without a word.
    const rawId = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
    const replyId = typeof rawId === 'string' || typeof rawId === 'number' ? rawId : undefined;
    try {
      assertJsonDepth((raw as { args?: unknown } | null)?.args ?? {});
    } catch (err) {
      const error = (err as CamdError).toBody();
      this.log.warn({ error }, 'control request refused (nesting or key)');
      return this.reply(sock, replyId, { ok: false, error });
    }
    const parsed = Request.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const error: ErrorBody = { code: 'malformed', message: `bad request: ${issue.path.join('.') || '(root)'}: ${issue.message}`, path: issue.path.join('.') };
      this.log.warn({ error }, 'malformed control request');
      return this.reply(sock, replyId, { ok: false, error });
    }
    const { id, cmd, args } = parsed.data;
    if (cmd === 'logs.follow' || cmd === 'events.follow') {
      try {
        cleanups.push(this.follow(sock, id, cmd, args ?? {}));
      } catch (err) {
        const error = err instanceof CamdError ? err.toBody() : { code: 'failed' as const, message: errorMessage(err) };
        this.reply(sock, id, { ok: false, error });
      }
      return;
    }
    // A streaming command's items go out after its reply (a client reads the reply first).
    let replied = false;
    const early: unknown[] = [];
    const stream = {
      emit: (item: unknown) => (replied ? this.write(sock, { id, stream: item }) : void early.push(item)),
      onClose: (fn: () => void) => (sock.destroyed ? fn() : void cleanups.push(fn)),
    };
    const res = await this.ctx.commands.execute(cmd, args ?? {}, { source: 'local', stream });
    this.reply(sock, id, res);
    replied = true;
    for (const item of early.splice(0)) this.write(sock, { id, stream: item });
  }

  private follow(sock: Socket, id: string | number | undefined, cmd: string, args: Record<string, unknown>): () => void {
    if (cmd === 'events.follow') {
      const off = this.ctx.bus.on(this, 'camera.event', (ev: CameraEvent) => this.write(sock, { id, stream: ev }));
      this.reply(sock, id, { ok: true, result: { following: 'events' } });
      return off;
    }
    const opts = z
      .object({
        level: z.enum(LOG_LEVELS).default('trace'),
        // The range in words: camctl names its own flag (-n) for the path `backlog` and shows this message.
        backlog: z.number({ error: `the number of past lines must be a whole number from 0 to ${MAX_BACKLOG}` }).int().min(0).max(MAX_BACKLOG).default(50),
        component: z.string().optional(),
      })
      .strict()
      .safeParse(args);
    if (!opts.success) throw new CamdError('invalid_args', opts.error.issues[0]!.message, opts.error.issues[0]!.path.join('.'));
    const min = levelNumber[opts.data.level] ?? 0;
    const want = (l: LogLine): boolean => l.level >= min && (!opts.data.component || l.component === opts.data.component);
    this.reply(sock, id, { ok: true, result: { following: 'logs' } });
    for (const l of this.ctx.logging.ring.recent(opts.data.backlog)) if (want(l)) this.write(sock, { id, stream: l });
    return this.ctx.logging.ring.follow((l) => {
      if (want(l)) this.write(sock, { id, stream: l });
    });
  }

  private reply(sock: Socket, id: string | number | undefined, body: { ok: true; result: unknown } | { ok: false; error: ErrorBody }): void {
    this.write(sock, id === undefined ? body : { id, ...body });
  }

  private write(sock: Socket, obj: unknown): void {
    if (sock.destroyed || !sock.writable) return;
    // A follower that stops reading must not make the daemon buffer without bound.
    if (sock.writableLength > 1024 * 1024) {
      sock.destroy();
      return;
    }
    // Replies, events and log lines alike: no URL secret reaches the terminal either.
    sock.write(`${JSON.stringify(redactDeep(obj))}\n`);
  }
}

export const controlServer = (ctx: Context): Service => new ControlServer(ctx);
