import type { LedColor } from '../../drivers/devices/types.js';
import type { CamState } from '../state/store.js';

/**
 * The manual's six LED states, as a pure function of the state.
 *
 * Priority when several hold (highest first) — the manual gives none, so this is ours:
 *  1. starting          solid red    the daemon is booting; nothing else is known yet
 *  2. live-view         solid blue   someone is watching: the only sign people in front of the
 *                                    camera get that they are watched right now (privacy note),
 *                                    so no fault may hide it; the viewer sees faults in the app
 *  3. camera-exception  fast red     hardware, card or pipeline fault: needs the owner
 *  4. provisioning      fast blue    no network and no saved Wi-Fi: waiting for setup
 *  5. network-exception slow red     cable in but no network, Wi-Fi lost, cloud unreachable
 *  6. working           slow blue    all good
 * Provisioning outranks network-exception because it is the more specific cause: with no
 * network configured at all, "network exception" would send the owner to check a cable.
 */
export type LedStateName = 'starting' | 'live-view' | 'camera-exception' | 'provisioning' | 'network-exception' | 'working' | 'off';
export type LedMode = 'solid' | 'slow' | 'fast' | 'off';

export interface LedPattern {
  state: LedStateName;
  color: LedColor;
  mode: LedMode;
  reason: string;
}

export const LED_PRIORITY: readonly Exclude<LedStateName, 'off'>[] = [
  'starting',
  'live-view',
  'camera-exception',
  'provisioning',
  'network-exception',
  'working',
];

const LOOK: Record<Exclude<LedStateName, 'off'>, { color: LedColor; mode: LedMode }> = {
  starting: { color: 'red', mode: 'solid' },
  'live-view': { color: 'blue', mode: 'solid' },
  'camera-exception': { color: 'red', mode: 'fast' },
  provisioning: { color: 'blue', mode: 'fast' },
  'network-exception': { color: 'red', mode: 'slow' },
  working: { color: 'blue', mode: 'slow' },
};

/** Each condition that holds, with why; `ledPattern` picks the first by LED_PRIORITY. */
export function activeConditions(state: Readonly<CamState>): Partial<Record<Exclude<LedStateName, 'off'>, string>> {
  const out: Partial<Record<Exclude<LedStateName, 'off'>, string>> = {};
  if (state.lifecycle === 'booting') out.starting = 'booting';
  if (state.liveViewers > 0 && !state.sleeping) out['live-view'] = `${state.liveViewers} live viewer(s)`;
  const cameraFaults = Object.entries(state.faults).filter(([, f]) => f.kind === 'camera');
  if (cameraFaults.length) out['camera-exception'] = cameraFaults.map(([id, f]) => `${id}: ${f.message}`).join('; ');
  if (state.network.phase === 'provisioning') out.provisioning = state.network.reason ?? 'no network and no saved Wi-Fi';
  const netFaults = Object.entries(state.faults).filter(([, f]) => f.kind === 'network');
  if (state.network.phase === 'exception' || netFaults.length) {
    out['network-exception'] = [state.network.reason, ...netFaults.map(([id, f]) => `${id}: ${f.message}`)].filter(Boolean).join('; ') || 'network exception';
  }
  // "Works correctly": running and nothing above holds. Before any network manager reports
  // (phase unknown) the camera still works locally, so this is the fallback.
  if (state.lifecycle === 'running') out.working = state.network.phase === 'online' ? 'connected to the cloud' : `running (network ${state.network.phase})`;
  return out;
}

export function ledPattern(state: Readonly<CamState>, enabled = true): LedPattern {
  if (state.lifecycle === 'stopping' || state.lifecycle === 'stopped') return { state: 'off', color: 'off', mode: 'off', reason: 'daemon stopping' };
  const conds = activeConditions(state);
  for (const name of LED_PRIORITY) {
    const reason = conds[name];
    if (reason === undefined) continue;
    // The owner may turn the LED off; booting still shows so a dead camera is told from a dark one.
    if (!enabled && name !== 'starting') return { state: 'off', color: 'off', mode: 'off', reason: 'indicator disabled in settings' };
    return { state: name, ...LOOK[name], reason };
  }
  return { state: 'off', color: 'off', mode: 'off', reason: 'no state holds' };
}
