import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_LINE_BYTES, controlServer } from '../../../src/control/server.js';
import { coreCommands } from '../../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../../harness/boot.js';
import { PROCESS_TIMEOUTS, patience } from '../../harness/wait.js';

/**
 * The control socket's line protocol on a real Unix socket (in a temp run dir): replies carry
 * the request id, bad lines get precise errors and the connection keeps working, an unterminated
 * oversize line is answered and then nothing else from that connection runs.
 */
vi.setConfig(PROCESS_TIMEOUTS);

let sim: BootedSim | undefined;
const socks: Socket[] = [];
afterEach(async () => {
  for (const s of socks.splice(0)) s.destroy();
  await sim?.dispose();
  sim = undefined;
});

interface Line {
  id?: string | number;
  ok?: boolean;
  result?: unknown;
  error?: { code: string; message: string; path?: string };
}

async function open(): Promise<{ send(text: string): void; lines: Line[]; next(n: number): Promise<Line[]>; closed: Promise<void> }> {
  sim = await bootSim({ services: [controlServer, coreCommands] });
  const sock = connect(sim.sup.paths.socket);
  socks.push(sock);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const lines: Line[] = [];
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Line);
      buf = buf.slice(nl + 1);
    }
  });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return {
    send: (text) => sock.write(text),
    lines,
    closed,
    async next(n) {
      await vi.waitFor(() => expect(lines.length).toBeGreaterThanOrEqual(n), { timeout: patience(10_000), interval: 20 });
      return lines.slice(0, n);
    },
  };
}

describe('control socket', () => {
  it('answers each line with its id; malformed lines get precise errors and the connection keeps working', async () => {
    const c = await open();
    c.send('{"id":1,"cmd":"config.get","args":{"path":"device"}}\n');
    c.send('not json\n');
    c.send('{"id":"x","cmd":"config.get","extra":1}\n');
    c.send('{"id":3,"cmd":"no.such"}\n');
    c.send('{"id":4,"cmd":"config.get","args":{"path":"device"}}\n');
    // Replies come as each request completes, not in order: match them by id.
    const all = await c.next(5);
    const byId = (id: string | number): Line | undefined => all.find((l) => l.id === id);
    const [a, b, d, e, f] = [byId(1), all.find((l) => l.id === undefined), byId('x'), byId(3), byId(4)];
    expect(a).toMatchObject({ id: 1, ok: true });
    expect(b).toMatchObject({ ok: false, error: { code: 'malformed' } });
    expect(b!.error!.message).toMatch(/^not JSON/);
    expect(d).toMatchObject({ id: 'x', ok: false, error: { code: 'malformed' } });
    expect(e).toMatchObject({ id: 3, ok: false, error: { code: 'unknown_command' } });
    expect(f).toMatchObject({ id: 4, ok: true });
  });

  it('a "__proto__" key in the arguments is refused with its path, not silently dropped', async () => {
    const c = await open();
    c.send('{"id":1,"cmd":"config.get","args":{"__proto__":{"polluted":true},"path":"device"}}\n');
    c.send('{"id":2,"cmd":"config.set","args":{"patch":{"alarm":{"__proto__":{"timeoutSeconds":1}}}}}\n');
    const all = await c.next(2);
    const [a, b] = [all.find((l) => l.id === 1), all.find((l) => l.id === 2)];
    expect(a).toMatchObject({ id: 1, ok: false, error: { code: 'invalid_args', path: '__proto__' } });
    expect(b).toMatchObject({ id: 2, ok: false, error: { code: 'invalid_args', path: 'patch.alarm.__proto__' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an unterminated line over the limit is answered too_large; nothing sent after it runs', async () => {
    const c = await open();
    const before = sim!.sup.config.get().alarm.timeoutSeconds;
    c.send(`{"id":1,"cmd":"config.get","args":{"pad":"${'x'.repeat(MAX_LINE_BYTES + 10)}`);
    // No newline yet: only the unterminated-line check can answer this.
    await c.next(1);
    c.send(`"}}\n{"id":2,"cmd":"config.set","args":{"patch":{"alarm":{"timeoutSeconds":${before === 30 ? 31 : 30}}}}}\n`);
    await c.closed;
    await new Promise((r) => setTimeout(r, 200)); // a wrongly run config.set would have landed by now
    expect(c.lines).toEqual([{ ok: false, error: { code: 'too_large', message: `request line over ${MAX_LINE_BYTES} bytes` } }]);
    expect(sim!.sup.config.get().alarm.timeoutSeconds).toBe(before);
  });
});
