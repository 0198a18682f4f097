import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import { patience, waitUntil } from '../harness/wait.js';

/**
 * A clock the test moves by hand: the cloud link's own timers (backoff, grace, coalescing) run
 * only when the test advances it, while sockets, mqtt.js and the broker stay on real time.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.seq++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(h: TimerHandle | undefined): void {
    if (h !== undefined) this.timers.delete(h as unknown as number);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.seq++;
    this.timers.set(id, { at: this.t + Math.max(1, ms), fn, every: Math.max(1, ms) });
    return id as unknown as TimerHandle;
  }

  clearInterval(h: TimerHandle | undefined): void {
    this.clearTimeout(h);
  }

  /** Moves time forward, firing due timers in order and letting I/O callbacks run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; every?: number }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = Math.max(this.t, timer.at);
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
      await tick();
    }
    this.t = end;
    await tick();
  }

  pending(): number {
    return this.timers.size;
  }
}

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Polls real time (sockets, broker, fsync are real), bounded. `timeoutMs` is what an idle machine
 * needs; the real deadline is `patience(timeoutMs)` (test/harness/wait.ts).
 */
export function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  return waitUntil(check, what, timeoutMs, 10);
}

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
  correlationData?: Buffer;
  at: number;
}

/** The cloud side of a test: an MQTT 5 client that records everything under a filter. */
export class CloudClient {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const cd = packet.properties?.correlationData;
      this.messages.push({ topic, text: payload.toString('utf8'), retain: packet.retain, at: Date.now(), ...(cd && { correlationData: Buffer.from(cd) }) });
    });
  }

  static async connect(url: string, opts: IClientOptions = {}): Promise<CloudClient> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `cloud-${randomUUID().slice(0, 8)}`, reconnectPeriod: 200, connectTimeout: patience(5000), ...opts });
    return new CloudClient(client);
  }

  private readonly filters = new Set<string>();

  async subscribe(filter: string): Promise<number[]> {
    // rap: the retain flag as published, also on live delivery (the tests check it).
    const grants = await this.client.subscribeAsync(filter, { qos: 1, rap: true });
    this.filters.add(filter);
    return grants.map((g) => g.qos);
  }

  /** Whether a subscription already covers the topic (mosquitto delivers once per matching subscription). */
  covers(topic: string): boolean {
    return [...this.filters].some((f) => f === topic || (f.endsWith('/#') && topic.startsWith(f.slice(0, -1))));
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  json<T = Record<string, unknown>>(topic: string): T[] {
    return this.on(topic).map((m) => JSON.parse(m.text) as T);
  }

  last<T = Record<string, unknown>>(topic: string): T | undefined {
    const m = this.on(topic).at(-1);
    return m ? (JSON.parse(m.text) as T) : undefined;
  }

  publish(topic: string, payload: string | Buffer, opts: mqtt.IClientPublishOptions = {}): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1, ...opts });
  }

  /** An MQTT 5 request: response topic + correlation data; resolves with the one reply. */
  async request(base: string, name: string, payload: string | Buffer | Record<string, unknown>, responseTopic = `${base}/reply/test`): Promise<Record<string, unknown>> {
    const corr = Buffer.from(randomUUID());
    if (!this.covers(responseTopic)) await this.subscribe(responseTopic);
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    await this.publish(`${base}/cmd/${name}`, body, {
      properties: { responseTopic, correlationData: corr },
    });
    const m = await until(() => this.messages.find((x) => x.topic === responseTopic && x.correlationData?.equals(corr)), `reply to ${name}`);
    return JSON.parse(m.text) as Record<string, unknown>;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * A fresh daemon directory (`<tmp>/<prefix>XXXXXX/data/config.json`) whose config points the
 * cloud link at the test broker in plaintext, merged with `config` at the top level.
 */
export function cloudTestDir(brokerUrl: string, prefix: string, config: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ cloud: { url: brokerUrl, allowPlaintext: true }, ...config }));
  return dir;
}
