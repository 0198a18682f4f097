import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { ConnectivityChecker, mqttConnectPacket, targetFromUrl } from '../../../src/network/connectivity.js';
import { waitFor } from '../../harness/daemon.js';

const FAKE = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as ('setTimeout' | 'clearTimeout' | 'setInterval' | 'clearInterval' | 'Date')[] };
let dir: string;
let broker: ChildProcess;
let brokerPort: number;
const servers: Server[] = [];

async function listen(handler: (s: import('node:net').Socket) => void): Promise<number> {
  const srv = createServer(handler);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as { port: number }).port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camd-check-'));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  brokerPort = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  writeFileSync(join(dir, 'm.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  broker = spawn('mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  const checker = new ConnectivityChecker(systemClock);
  await waitFor(async () => (await checker.check({ host: '127.0.0.1', port: brokerPort, probe: 'tcp' }, 1000)).ok, 5_000);
});
afterAll(() => {
  broker?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) s.close();
});

describe('connectivity checker', () => {
  it('derives the target from the cloud URL: MQTT CONNECT for plain mqtt, a TCP accept for mqtts', () => {
    expect(targetFromUrl('mqtt://10.0.0.5')).toEqual({ host: '10.0.0.5', port: 1883, probe: 'mqtt' });
    expect(targetFromUrl('mqtts://cloud.example.com')).toEqual({ host: 'cloud.example.com', port: 8883, probe: 'tcp' });
    expect(targetFromUrl('mqtts://[::1]:9883')).toEqual({ host: '::1', port: 9883, probe: 'tcp' });
    expect(mqttConnectPacket('abc').toString('hex')).toBe('100f00044d5154540402000a0003616263');
  });

  it('gets a CONNACK from a real Mosquitto broker', async () => {
    const r = await new ConnectivityChecker(systemClock).check({ host: '127.0.0.1', port: brokerPort, probe: 'mqtt' }, 5_000);
    expect(r).toMatchObject({ ok: true, target: `127.0.0.1:${brokerPort}` });
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('reports a closed port as ECONNREFUSED and a non-MQTT server as such', async () => {
    const port = await listen(() => undefined);
    servers[0]!.close();
    await new Promise((r) => setTimeout(r, 0));
    const checker = new ConnectivityChecker(systemClock);
    expect(await checker.check({ host: '127.0.0.1', port, probe: 'mqtt' }, 5_000)).toEqual({ ok: false, target: `127.0.0.1:${port}`, error: 'ECONNREFUSED' });
    const http = await listen((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    expect(await checker.check({ host: '127.0.0.1', port: http, probe: 'mqtt' }, 5_000)).toEqual({ ok: false, target: `127.0.0.1:${http}`, error: 'not an MQTT broker (first bytes 48545450)' });
  });

  it('times out on the injected clock when a server accepts but never answers', async () => {
    const silent = await listen(() => undefined);
    vi.useFakeTimers(FAKE);
    const pending = new ConnectivityChecker(systemClock).check({ host: '127.0.0.1', port: silent, probe: 'mqtt' }, 5_000);
    let done = false;
    void pending.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toEqual({ ok: false, target: `127.0.0.1:${silent}`, error: 'no answer within 5000 ms' });
  });
});
