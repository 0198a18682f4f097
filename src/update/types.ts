import type { Outcome } from './trial.js';

export type UpdatePhase = 'idle' | 'checking' | 'downloading' | 'verifying' | 'unpacking' | 'switching' | 'restarting' | 'failed';

/** `state.update`: the update in progress (or the last one that failed). */
export interface UpdateState {
  phase: UpdatePhase;
  version?: string;
  bytes?: number;
  total?: number;
  error?: string;
  since: number;
}

/** `state.release`: what runs, whether it is on trial, and what the last update did. */
export interface ReleaseState {
  version: string;
  commit?: string;
  arch?: string;
  builtAt?: string;
  /** The release directory name; absent for a development run (updates refused). */
  id?: string;
  installed: boolean;
  trial?: { status: 'on-trial'; boots: number; maxBoots: number; since: number; healthySince?: number; needs: number };
  lastUpdate?: Outcome;
}

declare module '../state/store.js' {
  interface CamState {
    update?: UpdateState;
    release?: ReleaseState;
  }
}
