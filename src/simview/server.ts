import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { call, ControlClient, type Reply } from '../cli/client.js';

/**
 * The sim-view server: a development tool beside the daemon, never part of it. It serves one
 * static page on 127.0.0.1 and relays the daemon's control socket to it by server-sent events.
 * Nothing is asked of the daemon while no page is open: the follow streams and the frame loop
 * start with the first page and stop with the last, so the daemon's cost is ~0 without a page.
 *
 * Page → server: POST /cmd {cmd, args} for an allow-listed set of commands (the sim's inputs and
 * a few demo operations). Only JSON bodies are taken and a foreign Origin is refused: another web
 * page in the same browser cannot drive the camera through this port (a JSON POST needs a CORS
 * preflight, which is never answered).
 */

const PAGE_DIR = join(import.meta.dirname, 'page');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
/** State slices the page draws; the others (capture counters, services…) would only be traffic. */
const STATE_KEYS = ['lifecycle', 'bootId', 'bootCount', 'liveViewers', 'sleeping', 'network', 'presence', 'faults', 'ptz', 'storage', 'live', 'alarm', 'detection', 'config'];
const ALLOWED = new Set(['config.get', 'sim.press', 'sim.link', 'sim.card', 'live.stop', 'ptz.preset.save', 'ptz.preset.goto', 'ptz.goto', 'ptz.home', 'wide.pan', 'alarm.start', 'alarm.stop', 'led.test']);
const LENSES = ['wide', 'ptz'] as const;
const FRAME_MS = 1000;
const RETRY_MS = 1000;

export interface SimViewOptions {
  socket: string;
  port: number;
  /** Frame fetch period per lens while a page is open. */
  frameMs?: number;
}

export class SimView {
  private readonly clients = new Set<ServerResponse>();
  private readonly frames = new Map<string, { jpeg: Buffer; n: number; ts: number }>();
  private follows: ControlClient[] = [];
  private frameTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private receiver: ChildProcess | undefined;
  private connected = false;
  private lastHello: unknown;

  private constructor(
    private readonly http: Server,
    private readonly opts: SimViewOptions,
  ) {}

  static async start(opts: SimViewOptions): Promise<SimView> {
    // eslint-disable-next-line prefer-const -- assigned after the server that closes over it
    let view!: SimView;
    const http = createServer((req, res) => view.route(req, res));
    view = new SimView(http, opts);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.port, '127.0.0.1', () => resolve());
    });
    return view;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.http.address() as { port: number }).port}/`;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.stopUpstream();
    this.receiver?.kill('SIGKILL');
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const page = STATIC[url.pathname];
    if (req.method === 'GET' && page) {
      res.writeHead(200, { 'content-type': page.type, 'cache-control': 'no-store' });
      return void res.end(readFileSync(join(PAGE_DIR, page.file)));
    }
    if (req.method === 'GET' && url.pathname === '/events') return this.subscribe(req, res);
    const frame = /^\/frame\/(wide|ptz)$/.exec(url.pathname);
    if (req.method === 'GET' && frame) {
      const f = this.frames.get(frame[1]!);
      if (!f) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' });
      return void res.end(f.jpeg);
    }
    if (req.method === 'POST' && url.pathname === '/cmd') return void this.command(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  private subscribe(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': sim-view\n\n');
    this.clients.add(res);
    req.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopUpstream();
    });
    if (this.clients.size === 1) this.startUpstream();
    else if (this.lastHello) this.send(res, this.lastHello);
    this.send(res, { type: 'link', connected: this.connected });
  }

  private send(res: ServerResponse, msg: unknown): void {
    res.write(`data: ${JSON.stringify(msg)}\n\n`);
  }

  private broadcast(msg: unknown): void {
    for (const c of this.clients) this.send(c, msg);
  }

  private setConnected(on: boolean, reason?: string): void {
    if (this.connected === on) return;
    this.connected = on;
    this.broadcast({ type: 'link', connected: on, reason });
  }

  // --- upstream: the daemon's streams, only while a page is open ---

  private startUpstream(): void {
    this.connectFollows().catch((err: unknown) => this.retry(String(err)));
    this.frameTimer ??= setInterval(() => void this.fetchFrames(), this.opts.frameMs ?? FRAME_MS);
    void this.fetchFrames();
  }

  private stopUpstream(): void {
    clearInterval(this.frameTimer);
    this.frameTimer = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const f of this.follows.splice(0)) f.close();
    this.lastHello = undefined;
    this.connected = false;
  }

  private retry(reason: string): void {
    for (const f of this.follows.splice(0)) f.close();
    this.setConnected(false, reason);
    if (this.clients.size === 0 || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.clients.size > 0) this.connectFollows().catch((err: unknown) => this.retry(String(err)));
    }, RETRY_MS);
  }

  private async connectFollows(): Promise<void> {
    const sim = await ControlClient.connect(this.opts.socket);
    const events = await ControlClient.connect(this.opts.socket).catch((err: unknown) => {
      sim.close();
      throw err;
    });
    this.follows = [sim, events];
    // A daemon restart (reboot, factory reset) closes both: say so, then come back.
    let closed = false;
    const onClose = (): void => {
      if (closed) return;
      closed = true;
      if (this.follows.includes(sim)) this.retry('the daemon closed the connection (restart?)');
    };
    sim.onClose(onClose);
    events.onClose(onClose);
    const hello = await sim.request('sim.timeline.follow', { kinds: ['gpio'], stateKeys: STATE_KEYS }, (item) => {
      const it = item as { type: string; entry?: unknown };
      // The server's receive time splits the page's latency into daemon→server and server→page.
      this.broadcast(it.type === 'timeline' ? { ...it, rx: Date.now() } : it);
    });
    if (!hello.ok) throw new Error(`sim.timeline.follow: ${hello.error.message}`);
    const followed = await events.request('events.follow', {}, (ev) => this.broadcast({ type: 'event', event: ev }));
    if (!followed.ok) throw new Error(`events.follow: ${followed.error.message}`);
    const areas = await this.call('config.get', { path: 'detection' });
    this.lastHello = { type: 'hello', ...(hello.result as object), detection: areas.ok ? areas.result : null };
    this.broadcast(this.lastHello);
    this.setConnected(true);
  }

  private async fetchFrames(): Promise<void> {
    for (const lens of LENSES) {
      const r = await this.call('sim.frame', { lens }).catch(() => undefined);
      if (!r?.ok) continue;
      const { jpeg, ts } = r.result as { jpeg?: string; ts: number };
      if (!jpeg) continue;
      const n = (this.frames.get(lens)?.n ?? 0) + 1;
      this.frames.set(lens, { jpeg: Buffer.from(jpeg, 'base64'), n, ts });
      this.broadcast({ type: 'frame', lens, n, ts });
    }
  }

  private call(cmd: string, args: Record<string, unknown>): Promise<Reply> {
    return call(this.opts.socket, cmd, args);
  }

  // --- page → daemon ---

  private async command(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (code: number, body: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const origin = req.headers.origin;
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json') || (origin !== undefined && origin !== this.url.slice(0, -1))) {
      return reply(403, { ok: false, error: { code: 'forbidden', message: 'JSON from this page only' } });
    }
    let body = '';
    for await (const chunk of req) {
      body += String(chunk);
      if (body.length > 16 * 1024) return reply(413, { ok: false, error: { code: 'too_large', message: 'body over 16 KiB' } });
    }
    let parsed: { cmd?: unknown; args?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      return reply(400, { ok: false, error: { code: 'malformed', message: 'not JSON' } });
    }
    const cmd = String(parsed.cmd);
    const args = typeof parsed.args === 'object' && parsed.args !== null ? (parsed.args as Record<string, unknown>) : {};
    try {
      if (cmd === 'live.start') return reply(200, await this.liveStart());
      if (!ALLOWED.has(cmd)) return reply(403, { ok: false, error: { code: 'forbidden', message: `${cmd} is not a sim-view command` } });
      const r = await this.call(cmd, args);
      if (cmd === 'live.stop') this.stopReceiver();
      reply(200, r);
    } catch (err) {
      reply(502, { ok: false, error: { code: 'failed', message: String(err) } });
    }
  }

  /**
   * A live view needs a viewer: the server plays one, an ffmpeg listening for RTMP on 127.0.0.1
   * that throws the video away, and asks the daemon to push the wide lens to it.
   */
  private async liveStart(): Promise<Reply> {
    this.stopReceiver();
    const port = await freePort();
    const url = `rtmp://127.0.0.1:${port}/live/sim-view`;
    const rx = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-listen', '1', '-i', url, '-f', 'null', '-'], { stdio: 'ignore' });
    rx.on('error', () => undefined);
    this.receiver = rx;
    await waitListening(port);
    return this.call('live.start', { lenses: ['wide'], url, audio: false });
  }

  private stopReceiver(): void {
    this.receiver?.kill('SIGKILL');
    this.receiver = undefined;
  }
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Until the receiving ffmpeg listens on the port (at most 10 s), read from /proc/net/tcp without
 * connecting: a probe connection would use up the one connection `ffmpeg -listen 1` accepts.
 */
async function waitListening(port: number): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const listening = (): boolean =>
    ['/proc/net/tcp', '/proc/net/tcp6'].some((file) => {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return false;
      }
      return text.split('\n').some((line) => {
        const cols = line.trim().split(/\s+/);
        return cols[1]?.endsWith(hex) === true && cols[3] === '0A';
      });
    });
  const until = Date.now() + 10_000;
  while (!listening() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}
