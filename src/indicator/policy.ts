import type { LedColor } from '../../drivers/devices/types.js';
import type { CamState } from '../state/store.js';

/**
 * The manual's six LED states, as a pure function of the state (plus the owner's switch and a
 * running LED test).
 *
 * Priority when several hold (highest first) — the manual gives none, so this is ours:
 *  1. starting          solid red    the daemon is booting; nothing else is known yet
 *  2. live-view         solid blue   someone is watching: the only sign people in front of the
 *                                    camera get that they are watched right now (privacy note),
 *                                    so nothing may hide it: no fault, no LED test, and not the
 *                                    owner's `indicator.enabled = false`; the viewer sees faults
 *                                    in the app
 *  -  test              as asked     `led.test` (bounded, see service.ts); shows even with the
 *                                    indicator switched off, never over the two above
 *  -  (off)                          `indicator.enabled = false` darkens everything below
 *  3. camera-exception  fast red     hardware, card or pipeline fault: needs the owner
 *  4. provisioning      fast blue    no network and no saved Wi-Fi: waiting for setup
 *  5. network-exception slow red     cable in but no network, Wi-Fi lost, cloud unreachable
 *  6. sleeping          off          sleep mode (privacy): the camera does not look, and a dark
 *                                    LED says so; slow blue would claim it works as usual
 *  7. working           slow blue    all good
 * Provisioning outranks network-exception because it is the more specific cause: with no
 * network configured at all, "network exception" would send the owner to check a cable.
 * Sleeping sits just above working, under every problem: sleep only replaces the "all good"
 * sign; a card error or a lost network still shows, because the owner has to act on those (and
 * a camera that cannot be reached cannot be woken from the app).
 *
 * Live view holds whenever a viewer is counted (`liveViewers > 0`), in sleep mode too: the LED
 * may over-report a viewer for the instant a push takes to end, never under-report one.
 */
export type LedCondition = 'starting' | 'live-view' | 'camera-exception' | 'provisioning' | 'network-exception' | 'sleeping' | 'working';
export type LedStateName = LedCondition | 'test' | 'off';
export type LedMode = 'solid' | 'slow' | 'fast' | 'off';

export interface LedPattern {
  state: LedStateName;
  color: LedColor;
  mode: LedMode;
  reason: string;
}

/** What `led.test` asked for while it runs. */
export interface LedTest {
  color: LedColor;
  mode: Exclude<LedMode, 'off'>;
}

export const LED_PRIORITY: readonly LedCondition[] = [
  'starting',
  'live-view',
  'camera-exception',
  'provisioning',
  'network-exception',
  'sleeping',
  'working',
];

/** Conditions neither the owner's switch nor an LED test can hide. */
const ALWAYS_SHOWN: ReadonlySet<LedCondition> = new Set(['starting', 'live-view']);

const LOOK: Record<LedCondition, { color: LedColor; mode: LedMode }> = {
  starting: { color: 'red', mode: 'solid' },
  'live-view': { color: 'blue', mode: 'solid' },
  'camera-exception': { color: 'red', mode: 'fast' },
  provisioning: { color: 'blue', mode: 'fast' },
  'network-exception': { color: 'red', mode: 'slow' },
  sleeping: { color: 'off', mode: 'off' },
  working: { color: 'blue', mode: 'slow' },
};

/** Each condition that holds, with why; `ledPattern` picks the first by LED_PRIORITY. */
export function activeConditions(state: Readonly<CamState>): Partial<Record<LedCondition, string>> {
  const out: Partial<Record<LedCondition, string>> = {};
  if (state.lifecycle === 'booting') out.starting = 'booting';
  if (state.liveViewers > 0) out['live-view'] = `${state.liveViewers} live viewer(s)`;
  const cameraFaults = Object.entries(state.faults).filter(([, f]) => f.kind === 'camera');
  if (cameraFaults.length) out['camera-exception'] = cameraFaults.map(([id, f]) => `${id}: ${f.message}`).join('; ');
  if (state.network.phase === 'provisioning') out.provisioning = state.network.reason ?? 'no network and no saved Wi-Fi';
  const netFaults = Object.entries(state.faults).filter(([, f]) => f.kind === 'network');
  if (state.network.phase === 'exception' || netFaults.length) {
    out['network-exception'] = [state.network.reason, ...netFaults.map(([id, f]) => `${id}: ${f.message}`)].filter(Boolean).join('; ') || 'network exception';
  }
  if (state.sleeping) out.sleeping = 'sleep mode (privacy): capture stopped';
  // "Works correctly": running and nothing above holds. Before any network manager reports
  // (phase unknown) the camera still works locally, so this is the fallback.
  if (state.lifecycle === 'running') out.working = state.network.phase === 'online' ? 'connected to the cloud' : `running (network ${state.network.phase})`;
  return out;
}

/**
 * What the LED shows. `enabled` is the owner's `indicator.enabled`; `test` the running LED test.
 * Pure: the same inputs always give the same pattern, so the priority table is tested exhaustively.
 */
export function ledPattern(state: Readonly<CamState>, enabled = true, test?: LedTest): LedPattern {
  if (state.lifecycle === 'stopping' || state.lifecycle === 'stopped') return { state: 'off', color: 'off', mode: 'off', reason: 'daemon stopping' };
  const conds = activeConditions(state);
  for (const name of ALWAYS_SHOWN) {
    const reason = conds[name];
    if (reason !== undefined) return { state: name, ...LOOK[name], reason };
  }
  if (test) return { state: 'test', color: test.color, mode: test.color === 'off' ? 'off' : test.mode, reason: 'LED test' };
  if (!enabled) return { state: 'off', color: 'off', mode: 'off', reason: 'indicator disabled in settings' };
  for (const name of LED_PRIORITY) {
    const reason = conds[name];
    if (reason !== undefined) return { state: name, ...LOOK[name], reason };
  }
  return { state: 'off', color: 'off', mode: 'off', reason: 'no state holds' };
}
