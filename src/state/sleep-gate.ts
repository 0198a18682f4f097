import type { ConfigStore } from '../config/store.js';
import type { StateStore } from './store.js';

/**
 * "Is the camera asleep?" for anything that would read a lens outside the capture service (the
 * provisioning QR scanner, the 360° sweep). Asleep = the owner's setting `capture.sleep` **or**
 * the published `state.sleeping`: the setting is true from the moment sleep is asked for (before
 * the capture service has even run, e.g. at boot), the state flag until capture has really
 * stopped and come back on waking. Either one keeps lens readers off, so there is no window at
 * either end in which a second ffmpeg can read the lens.
 */
export interface SleepGate {
  asleep(): boolean;
  /** Called whenever either input changes; returns the unsubscribe function. */
  onChange(fn: (asleep: boolean) => void): () => void;
}

export function sleepGate(deps: { state: StateStore; config: ConfigStore }): SleepGate {
  const asleep = (): boolean => deps.state.get().sleeping || deps.config.get().capture.sleep;
  return {
    asleep,
    onChange(fn) {
      const unState = deps.state.subscribe((_s, changed) => {
        if (changed.has('sleeping')) fn(asleep());
      });
      const unConfig = deps.config.onChange((_c, paths) => {
        if (paths.includes('capture.sleep')) fn(asleep());
      });
      return () => {
        unState();
        unConfig();
      };
    },
  };
}
