import { ControlClient, type Reply } from './client.js';

export interface FollowOptions {
  socket: string;
  /** `logs.follow` or `events.follow`. */
  cmd: string;
  args: Record<string, unknown>;
  /** The arguments after a reconnect (e.g. a log backlog to de-duplicate against). */
  reconnectArgs?: Record<string, unknown>;
  onItem: (item: unknown) => void;
  /** Where the notices go (stderr). */
  notice: (text: string) => void;
  /** How long to keep trying after the daemon went away. */
  patienceMs?: number;
  /** Ends the follow (Ctrl-C); resolves with 0. */
  signal: AbortSignal;
}

/**
 * Follows a stream across daemon restarts (factory reset, reboot, a crash): when the socket
 * closes, says so, retries with a capped backoff until `patienceMs`, says when it is back and goes
 * on. The first request's error (bad arguments) ends the follow: retrying cannot fix it. Resolves
 * with the exit code: 0 on Ctrl-C, 1 when the daemon did not come back.
 */
export async function followStream(o: FollowOptions): Promise<number | Reply> {
  const patience = o.patienceMs ?? 120_000;
  let first = true;
  for (;;) {
    const client = first ? await ControlClient.connect(o.socket) : await reconnect(o, patience);
    if (!client) return o.signal.aborted ? 0 : 1;
    if (!first) o.notice('camctl: reconnected\n');
    const closed = new Promise<void>((resolve) => client.onClose(resolve));
    let reply: Reply;
    try {
      reply = await client.request(o.cmd, first ? o.args : (o.reconnectArgs ?? o.args), o.onItem);
    } catch {
      // Closed before it answered (the daemon stopping as we asked): go round again.
      if (first) throw new Error('the daemon closed the connection before answering');
      o.notice('camctl: daemon went away — reconnecting…\n');
      continue;
    }
    if (!reply.ok) {
      client.close();
      return reply;
    }
    first = false;
    const aborted = new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([closed, aborted]);
    if (o.signal.aborted) {
      client.close();
      return 0;
    }
    o.notice('camctl: daemon went away — reconnecting…\n');
  }
}

/** Connects again with a backoff from 250 ms doubling to 5 s, until `patienceMs` or an abort. */
async function reconnect(o: FollowOptions, patienceMs: number): Promise<ControlClient | undefined> {
  const deadline = Date.now() + patienceMs;
  let wait = 250;
  while (!o.signal.aborted && Date.now() < deadline) {
    await sleep(wait, o.signal);
    if (o.signal.aborted) return undefined;
    try {
      return await ControlClient.connect(o.socket, Math.min(5000, Math.max(1000, deadline - Date.now())));
    } catch {
      wait = Math.min(5000, wait * 2);
    }
  }
  if (!o.signal.aborted) o.notice(`camctl: the daemon did not come back within ${Math.round(patienceMs / 1000)} s\n`);
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Log lines after a reconnect: the new daemon's backlog, minus what was already printed. Lines
 * are dropped by time (older than the last printed) and, at the same millisecond, by content.
 */
export class LogDedup {
  private lastTime = -Infinity;
  private atLast = new Set<string>();

  /** True when the line is new (and remembers it). */
  fresh(line: unknown): boolean {
    const time = Number((line as { time?: unknown } | null)?.time);
    if (!Number.isFinite(time)) return true;
    const key = JSON.stringify(line);
    if (time < this.lastTime) return false;
    if (time === this.lastTime) {
      if (this.atLast.has(key)) return false;
      this.atLast.add(key);
      return true;
    }
    this.lastTime = time;
    this.atLast = new Set([key]);
    return true;
  }
}
