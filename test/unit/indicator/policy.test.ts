import { describe, expect, it } from 'vitest';
import { initialState, type CamState } from '../../../src/state/store.js';
import { LED_PRIORITY, ledPattern, type LedCondition, type LedTest } from '../../../src/indicator/policy.js';

type Cond = LedCondition;

/** A state in which exactly the given conditions hold. */
function stateWith(conds: Cond[]): CamState {
  const s = initialState(1, 'b', 0);
  s.lifecycle = conds.includes('starting') ? 'booting' : 'running';
  if (conds.includes('live-view')) s.liveViewers = 1;
  if (conds.includes('sleeping')) s.sleeping = true;
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
  sleeping: ['off', 'off'],
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

  it('a counted viewer shows in sleep mode too (the LED may over-report a viewer, never under-report one)', () => {
    const s = stateWith(['live-view']);
    s.sleeping = true;
    expect(ledPattern(s)).toMatchObject({ state: 'live-view', color: 'blue', mode: 'solid' });
  });

  it('disabled indicator is dark except while starting and during a live view', () => {
    expect(ledPattern(stateWith(['camera-exception']), false).mode).toBe('off');
    expect(ledPattern(stateWith(['provisioning']), false)).toMatchObject({ state: 'off', reason: 'indicator disabled in settings' });
    expect(ledPattern(stateWith(['starting']), false).state).toBe('starting');
    expect(ledPattern(stateWith(['live-view', 'camera-exception']), false)).toMatchObject({ state: 'live-view', color: 'blue', mode: 'solid' });
  });

  // Privacy invariant: every combination of the other conditions, the owner's switch and every
  // LED test the command accepts — a live view (not booting) is always solid blue.
  const TESTS: (LedTest | undefined)[] = [undefined];
  for (const color of ['red', 'blue', 'off'] as const) for (const mode of ['solid', 'slow', 'fast'] as const) TESTS.push({ color, mode });
  const others: Cond[] = ['camera-exception', 'provisioning', 'network-exception'];
  const subsets = others.reduce<Cond[][]>((acc, c) => [...acc, ...acc.map((x) => [...x, c])], [[]]);
  it('live view is solid blue whatever else holds, whatever the owner switch and whatever LED test runs', () => {
    let n = 0;
    for (const extra of subsets) {
      for (const enabled of [true, false]) {
        for (const test of TESTS) {
          const s = stateWith(['live-view', ...extra]);
          for (const sleeping of [false, true]) {
            s.sleeping = sleeping;
            expect(ledPattern(s, enabled, test), JSON.stringify({ extra, enabled, test, sleeping })).toMatchObject({ state: 'live-view', color: 'blue', mode: 'solid' });
            n++;
          }
        }
      }
    }
    expect(n).toBe(8 * 2 * 10 * 2);
  });

  it('starting beats a live view and a test; a test beats faults and the disabled switch', () => {
    expect(ledPattern(stateWith(['starting', 'live-view']), false, { color: 'off', mode: 'solid' }).state).toBe('starting');
    for (const extra of subsets) {
      for (const enabled of [true, false]) {
        const s = stateWith(extra);
        expect(ledPattern(s, enabled, { color: 'red', mode: 'fast' })).toEqual({ state: 'test', color: 'red', mode: 'fast', reason: 'LED test' });
        expect(ledPattern(s, enabled, { color: 'off', mode: 'slow' })).toMatchObject({ state: 'test', color: 'off', mode: 'off' });
      }
    }
  });

  it('sleep mode darkens the LED instead of the slow blue of a working camera', () => {
    expect(ledPattern(stateWith(['sleeping']))).toEqual({ state: 'sleeping', color: 'off', mode: 'off', reason: 'sleep mode (privacy): capture stopped' });
    expect(ledPattern(stateWith([])).state).toBe('working');
  });

  it('in sleep mode the problems the owner must act on still show, and so does an LED test', () => {
    expect(ledPattern(stateWith(['sleeping', 'camera-exception']))).toMatchObject({ state: 'camera-exception', color: 'red', mode: 'fast' });
    expect(ledPattern(stateWith(['sleeping', 'network-exception']))).toMatchObject({ state: 'network-exception', color: 'red', mode: 'slow' });
    expect(ledPattern(stateWith(['sleeping']), true, { color: 'red', mode: 'solid' })).toMatchObject({ state: 'test', color: 'red', mode: 'solid' });
    expect(ledPattern(stateWith(['sleeping']), false)).toMatchObject({ state: 'off', reason: 'indicator disabled in settings' });
  });

  it('off while stopping', () => {
    const s = stateWith([]);
    s.lifecycle = 'stopping';
    expect(ledPattern(s).color).toBe('off');
  });
});
