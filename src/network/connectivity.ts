import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';

/**
 * Can the camera reach its cloud broker through the current uplink? A carrier and a default
 * route say nothing about the router's uplink, DNS or a captive portal; this opens a real TCP
 * connection to the broker and, for plain `mqtt://`, speaks MQTT 3.1.1 CONNECT and waits for a
 * CONNACK (any return code proves a broker answers; refusing our throw-away client id is fine).
 * For `mqtts://` the TLS handshake and credentials are the cloud link's business: a TCP accept
 * is the proof here. The timeout runs on the injected clock.
 */
export interface CheckTarget {
  host: string;
  port: number;
  /** `mqtt`: send CONNECT and wait for CONNACK; `tcp`: an accepted connection is enough. */
  probe: 'mqtt' | 'tcp';
}

export interface CheckResult {
  ok: boolean;
  target: string;
  latencyMs?: number;
  error?: string;
}

export function targetFromUrl(url: string): CheckTarget {
  const u = new URL(url);
  const tls = u.protocol === 'mqtts:';
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : tls ? 8883 : 1883, probe: tls ? 'tcp' : 'mqtt' };
}

export function describeTarget(t: CheckTarget): string {
  return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

export class ConnectivityChecker {
  constructor(private readonly clock: Clock) {}

  check(target: CheckTarget, timeoutMs: number): Promise<CheckResult> {
    const name = describeTarget(target);
    const t0 = this.clock.now();
    return new Promise<CheckResult>((resolve) => {
      let settled = false;
      let socket: Socket | undefined;
      const done = (res: CheckResult): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        socket?.removeAllListeners();
        socket?.on('error', () => undefined);
        socket?.destroy();
        resolve(res);
      };
      const timer = this.clock.setTimeout(() => done({ ok: false, target: name, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
      try {
        socket = connect({ host: target.host, port: target.port });
      } catch (err) {
        done({ ok: false, target: name, error: errorMessage(err) });
        return;
      }
      socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, target: name, error: err.code ?? err.message }));
      socket.once('close', () => done({ ok: false, target: name, error: 'connection closed before the broker answered' }));
      socket.once('connect', () => {
        if (target.probe === 'tcp') {
          done({ ok: true, target: name, latencyMs: this.clock.now() - t0 });
          return;
        }
        let buf = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (buf.length < 4) return;
          // CONNACK: type 2, remaining length 2, flags, return code.
          if (buf[0] === 0x20 && buf[1] === 0x02) {
            socket.write(Buffer.from([0xe0, 0x00])); // DISCONNECT, so the broker logs a clean goodbye
            done({ ok: true, target: name, latencyMs: this.clock.now() - t0 });
          } else {
            done({ ok: false, target: name, error: `not an MQTT broker (first bytes ${buf.subarray(0, 4).toString('hex')})` });
          }
        });
        socket.write(mqttConnectPacket(`camd-probe-${randomBytes(4).toString('hex')}`));
      });
    });
  }
}

/** MQTT 3.1.1 CONNECT: clean session, keepalive 10 s, no credentials. */
export function mqttConnectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remaining = variable.length + payload.length;
  if (remaining > 127) throw new Error('client id too long for a one-byte remaining length');
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, payload]);
}
