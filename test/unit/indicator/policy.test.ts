import { describe, expect, it } from 'vitest';
import { initialState, type CamState } from '../../../src/state/store.js';
import { LED_PRIORITY, ledPattern, type LedStateName } from '../../../src/indicator/policy.js';

type Cond = Exclude<LedStateName, 'off'>;

/** A state in which exactly the given conditions hold. */
function stateWith(conds: Cond[]): CamState {
  const s = initialState(1, 'b', 0);
  s.lifecycle = conds.includes('starting') ? 'booting' : 'running';
  if (conds.includes('live-view')) s.liveViewers = 1;
  if (conds.includes('camera-exception')) s.faults = { ...s.faults, 'storage.card': { kind: 'camera', component: 'storage', message: 'card error', since: 0 } };
  if (conds.includes('provisioning')) s.network = { phase: 'provisioning', reason: 'no saved Wi-Fi' };
  else if (conds.includes('network-exception')) s.network = { phase: 'exception', reason: 'cable in, no route' };
  else s.network = { phase: 'online' };
  return s;
}

const LOOK: Record<Cond, [string, string]> = {
  starting: ['red', 'solid'],
  'live-view': ['blue', 'solid'],
  'camera-exception': ['red', 'fast'],
  provisioning: ['blue', 'fast'],
  'network-exception': ['red', 'slow'],
  working: ['blue', 'slow'],
};

describe('LED policy', () => {
  it.each(LED_PRIORITY.filter((c) => c !== 'working'))('%s alone shows its manual look', (cond) => {
    const p = ledPattern(stateWith([cond]));
    expect(p.state).toBe(cond);
    expect([p.color, p.mode]).toEqual(LOOK[cond]);
  });

  it('working: running, online, no fault → slow blue', () => {
    const p = ledPattern(stateWith([]));
    expect(p).toMatchObject({ state: 'working', color: 'blue', mode: 'slow' });
  });

  // Every pair: the higher one in LED_PRIORITY wins.
  const pairs: [Cond, Cond][] = [];
  for (let i = 0; i < LED_PRIORITY.length; i++) for (let j = i + 1; j < LED_PRIORITY.length; j++) pairs.push([LED_PRIORITY[i]!, LED_PRIORITY[j]!]);
  it.each(pairs.filter(([a, b]) => !(a === 'provisioning' && b === 'network-exception') && b !== 'working'))('%s beats %s', (hi, lo) => {
    expect(ledPattern(stateWith([hi, lo])).state).toBe(hi);
  });

  it('provisioning beats a network exception raised by a fault', () => {
    const s = stateWith(['provisioning']);
    s.faults = { 'cloud.unreachable': { kind: 'network', component: 'cloud', message: 'broker unreachable', since: 0 } };
    expect(ledPattern(s).state).toBe('provisioning');
  });

  it('every higher state beats working', () => {
    for (const c of LED_PRIORITY.filter((x) => x !== 'working')) expect(ledPattern(stateWith([c])).state).not.toBe('working');
  });

  it('a network fault alone is a network exception with its reason', () => {
    const s = stateWith([]);
    s.faults = { 'cloud.unreachable': { kind: 'network', component: 'cloud', message: 'broker unreachable for 30 s', since: 0 } };
    const p = ledPattern(s);
    expect(p.state).toBe('network-exception');
    expect(p.reason).toMatch(/broker unreachable/);
  });

  it('sleep mode hides live view', () => {
    const s = stateWith(['live-view']);
    s.sleeping = true;
    expect(ledPattern(s).state).toBe('working');
  });

  it('disabled indicator is dark except while starting', () => {
    expect(ledPattern(stateWith(['camera-exception']), false).mode).toBe('off');
    expect(ledPattern(stateWith(['starting']), false).state).toBe('starting');
  });

  it('off while stopping', () => {
    const s = stateWith([]);
    s.lifecycle = 'stopping';
    expect(ledPattern(s).color).toBe('off');
  });
});
