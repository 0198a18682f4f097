import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { followStream, LogDedup } from '../../../src/cli/follow.js';
import { waitUntil } from '../../harness/wait.js';

/** A stand-in control socket: answers a follow request, records its args, streams on demand. */
function fakeDaemon(path: string): Promise<{ server: Server; requests: Record<string, unknown>[]; socks: Socket[]; send(item: unknown): void; stop(): Promise<void> }> {
  const requests: Record<string, unknown>[] = [];
  const socks: Socket[] = [];
  let reqId: unknown;
  const server = createServer((s) => {
    socks.push(s);
    s.setEncoding('utf8');
    s.on('data', (line: string) => {
      const req = JSON.parse(line.trim()) as { id: unknown; args: Record<string, unknown> };
      reqId = req.id;
      requests.push(req.args);
      s.write(`${JSON.stringify({ id: req.id, ok: true, result: { following: 'x' } })}\n`);
    });
  });
  return new Promise((resolve) =>
    server.listen(path, () =>
      resolve({
        server,
        requests,
        socks,
        send: (item) => socks.forEach((s) => s.write(`${JSON.stringify({ id: reqId, stream: item })}\n`)),
        stop: () => new Promise<void>((r) => {
          socks.forEach((s) => s.destroy());
          server.close(() => r());
        }),
      }),
    ),
  );
}

describe('following across daemon restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'camctl-follow-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says the daemon went away, reconnects with the reconnect args, says so, and Ctrl-C ends with 0', async () => {
    const path = join(dir, 's.sock');
    const notices: string[] = [];
    const items: unknown[] = [];
    const ac = new AbortController();
    let d = await fakeDaemon(path);
    const done = followStream({ socket: path, cmd: 'logs.follow', args: { backlog: 50 }, reconnectArgs: { backlog: 1000 }, onItem: (i) => items.push(i), notice: (t) => notices.push(t), signal: ac.signal });
    await waitUntil(() => d.requests.length === 1 || undefined, 'first request', 10_000);
    d.send({ n: 1 });
    await waitUntil(() => items.length === 1 || undefined, 'first item', 10_000);
    await d.stop();
    await waitUntil(() => notices.length === 1 || undefined, 'went-away notice', 10_000);
    expect(notices).toEqual(['camctl: daemon went away — reconnecting…\n']);
    d = await fakeDaemon(path);
    await waitUntil(() => notices.length === 2 || undefined, 'reconnected notice', 10_000);
    expect(notices[1]).toBe('camctl: reconnected\n');
    await waitUntil(() => d.requests.length === 1 || undefined, 'second request', 10_000);
    expect(d.requests[0]).toEqual({ backlog: 1000 });
    d.send({ n: 2 });
    await waitUntil(() => items.length === 2 || undefined, 'item after the reconnect', 10_000);
    ac.abort();
    expect(await done).toBe(0);
    await d.stop();
  });

  it('gives up after its patience with exit 1 and says why', async () => {
    const path = join(dir, 't.sock');
    const notices: string[] = [];
    const d = await fakeDaemon(path);
    const done = followStream({ socket: path, cmd: 'events.follow', args: {}, onItem: () => undefined, notice: (t) => notices.push(t), signal: new AbortController().signal, patienceMs: 600 });
    await waitUntil(() => d.requests.length === 1 || undefined, 'request', 10_000);
    await d.stop();
    expect(await done).toBe(1);
    expect(notices.at(-1)).toBe('camctl: the daemon did not come back within 1 s\n');
  });

  it('an error reply ends it at once (retrying cannot fix bad arguments)', async () => {
    const path = join(dir, 'u.sock');
    const server = createServer((s) => s.on('data', () => s.write(`${JSON.stringify({ ok: false, error: { code: 'invalid_args', message: 'bad', path: 'backlog' } })}\n`)));
    await new Promise<void>((r) => server.listen(path, r));
    const r = await followStream({ socket: path, cmd: 'logs.follow', args: {}, onItem: () => undefined, notice: () => undefined, signal: new AbortController().signal });
    expect(r).toMatchObject({ ok: false, error: { path: 'backlog' } });
    await new Promise<void>((res) => server.close(() => res()));
  });
});

describe('log lines after a reconnect', () => {
  it('drops what was printed already, by time and at the same millisecond by content', () => {
    const d = new LogDedup();
    expect(d.fresh({ time: 1, msg: 'a' })).toBe(true);
    expect(d.fresh({ time: 2, msg: 'b' })).toBe(true);
    expect(d.fresh({ time: 2, msg: 'c' })).toBe(true);
    // The new daemon's backlog: everything up to what was shown is old.
    expect(d.fresh({ time: 1, msg: 'a' })).toBe(false);
    expect(d.fresh({ time: 2, msg: 'b' })).toBe(false);
    expect(d.fresh({ time: 2, msg: 'd' })).toBe(true);
    expect(d.fresh({ time: 3, msg: 'e' })).toBe(true);
  });
});
