import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging, type LogSetup } from '../../../src/core/log.js';
import { PublishedStateSchema } from '../../../src/cloud/schema.js';
import { buildState, StatePublisher, STATE_MAX_BYTES, STATE_WINDOW_MS } from '../../../src/cloud/state-publisher.js';
import type { HealthState } from '../../../src/health/readings.js';
import { initialState, StateStore } from '../../../src/state/store.js';

const info = { serial: 'CAM123456789', model: 'sim', board: 'sim' };
let state: StateStore;
let sent: Record<string, unknown>[];
let connected = true;
let logging: LogSetup;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  state = new StateStore(initialState(3, 'boot-1', Date.now()));
  sent = [];
  connected = true;
  logging = silentLogging();
});
afterEach(() => vi.useRealTimers());

const publisher = () =>
  new StatePublisher({ clock: systemClock, state, info, log: logging.forComponent('cloud'), connected: () => connected, publish: async (p) => void sent.push(JSON.parse(p)) });

const health = (n: number): HealthState => ({
  at: Date.now(),
  cpu: { loadPercent: n, loadAverage1m: n / 10, cores: 2 },
  temperatureC: 40 + n,
  memory: { totalBytes: 1000, availableBytes: 1000 - n, usedPercent: n / 10 },
  disks: { data: null, card: null },
  uptimeSeconds: n,
  errors: {},
});

describe('published state', () => {
  it('is the store plus identity, matches its schema, and carries no secret text', () => {
    state.set('config', { source: 'defaults', file: '/data/config.json', pendingRestart: [], secretsError: '/data/secrets.json: Unexpected token in "{"psk":"hunter22"' });
    const doc = buildState(state.get(), info, Date.now() + 5000);
    expect(PublishedStateSchema.parse(doc)).toMatchObject({ schema: 1, serial: 'CAM123456789', bootCount: 3, uptimeMs: 5000, config: { secretsError: true } });
    expect(JSON.stringify(doc)).not.toContain('hunter22');
  });

  it('coalesces 10 000 changes into at most one publish per window, the last one with the latest state', async () => {
    const p = publisher();
    p.start();
    for (let i = 1; i <= 10_000; i++) {
      state.set('liveViewers', i);
      if (i % 1000 === 0) await vi.advanceTimersByTimeAsync(200);
    }
    await vi.advanceTimersByTimeAsync(STATE_WINDOW_MS);
    // 2 s of changes → the leading publish plus one per window.
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent.length).toBeLessThanOrEqual(1 + Math.ceil(2000 / STATE_WINDOW_MS) + 1);
    expect(sent.at(-1)!.liveViewers).toBe(10_000);
    const times = sent.map((d) => d.ts as number);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(STATE_WINDOW_MS);
    p.stop();
  });

  it('skips identical documents, but publishes in full on every (re)connect', async () => {
    const p = publisher();
    p.start();
    state.set('liveViewers', 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
    // Within the window: changed and changed back — the trailing publish would repeat the last one.
    state.set('liveViewers', 2);
    state.set('liveViewers', 1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(1);
    await p.publishNow();
    expect(sent).toHaveLength(2);
    connected = false;
    state.set('liveViewers', 5);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(2);
    p.stop();
  });

  it('is not republished for telemetry: health readings, counters and uptime change, the state does not', async () => {
    const p = publisher();
    p.start();
    await p.publishNow();
    expect(sent).toHaveLength(1);
    for (let i = 1; i <= 100; i++) {
      state.set('health', health(i));
      state.set('children', { 'capture.wide': { name: 'capture.wide', kind: 'supervised', status: 'running', pid: 1000 + i, restarts: i } });
      await vi.advanceTimersByTimeAsync(30_000);
    }
    // The first health sample adds the slice's static part (cores, total memory): one publish, then none.
    expect(sent).toHaveLength(2);
    expect(sent[1]!.health).toEqual({ cpu: { cores: 2 }, memory: { totalBytes: 1000 }, disks: { data: null, card: null }, errors: {} });
    // A meaningful change in the same slice is published at once.
    state.set('health', { ...health(101), errors: { temperature: 'sensor gone' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(3);
    expect(sent[2]!.health).toMatchObject({ errors: { temperature: 'sensor gone' } });
    state.set('children', { 'capture.wide': { name: 'capture.wide', kind: 'supervised', status: 'backoff', pid: 1, restarts: 101 } });
    await vi.advanceTimersByTimeAsync(STATE_WINDOW_MS);
    expect(sent.at(-1)!.children).toEqual({ 'capture.wide': { name: 'capture.wide', kind: 'supervised', status: 'backoff' } });
    p.stop();
  });

  it('warns once, naming the largest slices, when the state is over the shadow limit, and still publishes it', async () => {
    const p = publisher();
    p.start();
    const big = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`fault.${i}`, { kind: 'camera' as const, component: 'x', message: 'm'.repeat(120), since: 1 }]));
    state.set('faults', big);
    await vi.advanceTimersByTimeAsync(0);
    state.set('liveViewers', 3);
    await vi.advanceTimersByTimeAsync(STATE_WINDOW_MS);
    expect(sent).toHaveLength(2);
    expect(JSON.stringify(sent[0]).length).toBeGreaterThan(STATE_MAX_BYTES);
    const warns = logging.ring.recent().filter((l) => l.msg === 'state document over the shadow size limit');
    expect(warns).toHaveLength(1);
    expect(Object.keys(warns[0]!.largest as object)[0]).toBe('faults');
    p.stop();
  });
});
