import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import type { IClientOptions } from 'mqtt';
import { CamdError, errorMessage } from '../core/errors.js';
import type { Config, Secrets } from '../config/schema.js';
import type { Topics } from './topics.js';

/** Largest packet the broker may send us; bigger ones are discarded by the broker (MQTT 5). */
export const MAX_PACKET_BYTES = 1024 * 1024;

export type ConnectPlan = { kind: 'refused'; reason: string } | { kind: 'ok'; url: string; options: IClientOptions; summary: string };

/**
 * How to reach the broker, from the config (where) and the 0600 secrets file (who we are).
 *
 * - `mqtts://`: TLS, the server certificate always verified (against `mqtt.caFile`, else the
 *   system CAs) including its host name; a client certificate (`certFile` + `keyFile`) for mTLS.
 * - `mqtt://` (plaintext) only with `cloud.allowPlaintext` — the local simulator broker.
 *   Otherwise the link is refused: a permanent configuration error, not retried.
 * - Certificate files are read at every attempt, so credentials installed later are picked up;
 *   an unreadable file is a transient error (retried with backoff).
 */
export async function planConnection(
  cloud: Config['cloud'],
  mqttSecrets: Secrets['mqtt'],
  clientId: string,
  topics: Topics,
): Promise<ConnectPlan> {
  const url = new URL(cloud.url);
  const tls = url.protocol === 'mqtts:';
  if (!tls && !cloud.allowPlaintext) {
    return {
      kind: 'refused',
      reason: `plaintext ${redactUrl(cloud.url)} refused: the cloud link must use mqtts:// (set cloud.allowPlaintext only for a local simulator broker)`,
    };
  }
  const s = mqttSecrets ?? {};
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId,
    clean: true,
    // Reconnects are ours (capped backoff with jitter on the injected clock).
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: cloud.keepaliveSeconds,
    resubscribe: false,
    queueQoSZero: false,
    will: { topic: topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
    // No broker-side session: events are kept in our outbox, never in the broker's queue.
    properties: { sessionExpiryInterval: 0, maximumPacketSize: MAX_PACKET_BYTES },
    ...(s.username !== undefined && { username: s.username }),
    ...(s.password !== undefined && { password: s.password }),
  };
  if (tls) {
    if ((s.certFile === undefined) !== (s.keyFile === undefined)) {
      throw new CamdError('invalid_args', 'secrets mqtt.certFile and mqtt.keyFile must be given together', 'mqtt.certFile');
    }
    options.rejectUnauthorized = true;
    if (!isIP(url.hostname.replace(/^\[|\]$/g, ''))) options.servername = url.hostname;
    if (s.caFile) options.ca = await readCredential(s.caFile, 'caFile');
    if (s.certFile && s.keyFile) {
      options.cert = await readCredential(s.certFile, 'certFile');
      options.key = await readCredential(s.keyFile, 'keyFile');
    }
  }
  const port = url.port || (tls ? '8883' : '1883');
  const summary = `${tls ? 'mqtts' : 'mqtt'}://${url.hostname}:${port}${tls ? ` (server verified${s.caFile ? ' by caFile' : ' by system CAs'}${s.certFile ? ', client certificate' : ''})` : ' (PLAINTEXT, simulator only)'}`;
  return { kind: 'ok', url: `${tls ? 'mqtts' : 'mqtt'}://${url.hostname}:${port}`, options, summary };
}

/** The broker URL without any user:password@ part, for the state, logs and faults. */
export function redactUrl(url: string): string {
  return url.replace(/^(mqtts?:\/\/)[^@/]*@/, '$1');
}

async function readCredential(path: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    throw new CamdError('unavailable', `cannot read mqtt.${what} ${path}: ${errorMessage(err)}`, `mqtt.${what}`);
  }
}
