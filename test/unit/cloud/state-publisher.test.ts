import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { PublishedStateSchema } from '../../../src/cloud/schema.js';
import { buildState, StatePublisher, STATE_WINDOW_MS } from '../../../src/cloud/state-publisher.js';
import { initialState, StateStore } from '../../../src/state/store.js';

const info = { serial: 'CAM123456789', model: 'sim', board: 'sim' };
let state: StateStore;
let sent: Record<string, unknown>[];
let connected = true;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  state = new StateStore(initialState(3, 'boot-1', Date.now()));
  sent = [];
  connected = true;
});
afterEach(() => vi.useRealTimers());

const publisher = () =>
  new StatePublisher({ clock: systemClock, state, info, log: silentLogging().forComponent('cloud'), connected: () => connected, publish: async (p) => void sent.push(JSON.parse(p)) });

describe('published state', () => {
  it('is the whole state plus identity, matches its schema, and carries no secret text', () => {
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
      if (i % 1000 === 0) await vi.advanceTimersByTimeAsync(50);
    }
    await vi.advanceTimersByTimeAsync(STATE_WINDOW_MS);
    // 500 ms of changes → the leading publish plus one per 250 ms window.
    expect(sent.length).toBeLessThanOrEqual(4);
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
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toHaveLength(1);
    await p.publishNow();
    expect(sent).toHaveLength(2);
    connected = false;
    state.set('liveViewers', 5);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toHaveLength(2);
    p.stop();
  });
});
