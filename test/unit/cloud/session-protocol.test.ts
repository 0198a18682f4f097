import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { Session } from '../../../src/cloud/session.js';

/**
 * A peer that stops speaking MQTT in the middle of a connection (or never did: an HTTP proxy on
 * the broker's port answers "HTTP/1.1 400…", and 'H' = 0x48 reads as a PUBACK with flag bits 8,
 * mqtt-packet's "Invalid header flag bits, must be 0x0 for puback packet"). mqtt.js only emits
 * the error and keeps the socket; the session must drop it at once, not at the keepalive (60 s
 * here) or the CONNACK timeout (60 s here).
 */
const log = silentLogging().forComponent('test');
const CONNACK_V5 = Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]);
const HTTP_400 = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');

let server: Server | undefined;
let session: Session | undefined;
afterEach(async () => {
  await session?.stop({ topic: 't/availability', payload: 'offline' });
  session = undefined;
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function peer(onConnection: (sock: Socket) => void): Promise<number> {
  const srv = createServer((sock) => {
    sock.on('error', () => undefined);
    onConnection(sock);
  });
  server = srv;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as { port: number }).port;
}

function start(port: number) {
  const seen = { connected: 0, disconnected: [] as { reason: string; at: number }[] };
  const s = new Session(systemClock, log, {
    plan: async () => ({
      kind: 'ok',
      url: `mqtt://127.0.0.1:${port}`,
      summary: 'test peer',
      options: { protocolVersion: 5, clientId: 'CAMTEST000001', clean: true, reconnectPeriod: 0, keepalive: 60, connectTimeout: 60_000 },
    }),
    connected: async () => void seen.connected++,
    disconnected: (reason) => void seen.disconnected.push({ reason, at: Date.now() }),
    message: () => undefined,
    changed: () => undefined,
  });
  session = s;
  s.start();
  return { s, seen };
}

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Session: a broken MQTT byte stream is dropped at once', () => {
  it('garbage after CONNACK: the link drops with the parser error and a retry is scheduled', async () => {
    let sockets = 0;
    const port = await peer((sock) => {
      sockets++;
      sock.once('data', () => {
        sock.write(CONNACK_V5);
        if (sockets === 1) setTimeout(() => sock.write(HTTP_400), 50);
      });
    });
    const { s, seen } = start(port);
    await until(() => seen.connected === 1, 'CONNACK');
    const online = Date.now();
    await until(() => seen.disconnected.length === 1, 'the drop');
    expect(seen.disconnected[0]!.reason).toBe('protocol error: Invalid header flag bits, must be 0x0 for puback packet');
    // Not the keepalive (60 s): the drop came from the parser error.
    expect(seen.disconnected[0]!.at - online).toBeLessThan(30_000);
    expect(s.phase).toBe('offline');
    expect(s.nextRetryAt).toBeGreaterThan(0);
  });

  it('a peer that answers HTTP instead of CONNACK: dropped, not left to the 60 s CONNACK timeout', async () => {
    const port = await peer((sock) => sock.once('data', () => sock.write(HTTP_400)));
    const t0 = Date.now();
    const { s, seen } = start(port);
    await until(() => seen.disconnected.length === 1, 'the drop');
    expect(seen.connected).toBe(0);
    expect(seen.disconnected[0]!.reason).toMatch(/^protocol error: Invalid header flag bits, must be 0x0 for puback packet/);
    expect(seen.disconnected[0]!.at - t0).toBeLessThan(30_000);
    expect(s.lastError).toMatch(/protocol error/);
  });
});
