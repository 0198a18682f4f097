import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { Reachability, UNREACHABLE_FAULT } from '../../../src/cloud/reachability.js';
import { initialState, StateStore } from '../../../src/state/store.js';
import { ledPattern } from '../../../src/indicator/policy.js';

let state: StateStore;
let grace = 30_000;
let why = 'ECONNREFUSED';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  state = new StateStore(initialState(1, 'boot', Date.now()));
  state.set('lifecycle', 'running');
  grace = 30_000;
});
afterEach(() => vi.useRealTimers());

const make = () => new Reachability({ clock: systemClock, state, graceMs: () => grace, describe: () => `broker unreachable: ${why}` });

describe('cloud reachability → network fault', () => {
  it('raises a network fault only after the grace period and clears it on connect', async () => {
    const r = make();
    r.offline();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(state.get().faults[UNREACHABLE_FAULT]).toBeUndefined();
    // Attempts keep failing: the grace period counts from the first failure.
    r.offline();
    await vi.advanceTimersByTimeAsync(1);
    expect(state.get().faults[UNREACHABLE_FAULT]).toMatchObject({ kind: 'network', component: 'cloud', message: 'broker unreachable: ECONNREFUSED' });
    expect(ledPattern(state.get())).toMatchObject({ state: 'network-exception', color: 'red', mode: 'slow' });
    why = 'ETIMEDOUT';
    r.offline();
    expect(state.get().faults[UNREACHABLE_FAULT]!.message).toMatch(/ETIMEDOUT/);
    r.online();
    expect(state.get().faults[UNREACHABLE_FAULT]).toBeUndefined();
    expect(ledPattern(state.get()).state).toBe('working');
  });

  it('a short blip shows nothing; the grace period follows the config', async () => {
    const r = make();
    r.offline();
    await vi.advanceTimersByTimeAsync(10_000);
    r.online();
    r.offline();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(state.get().faults[UNREACHABLE_FAULT]).toBeUndefined();
    grace = 5_000;
    r.regrace();
    await vi.advanceTimersByTimeAsync(0);
    expect(state.get().faults[UNREACHABLE_FAULT]).toBeDefined();
  });

  it('a refused link is a fault at once; stop clears it', () => {
    const r = make();
    r.refused();
    expect(state.get().faults[UNREACHABLE_FAULT]).toBeDefined();
    r.stop();
    expect(state.get().faults[UNREACHABLE_FAULT]).toBeUndefined();
  });
});
