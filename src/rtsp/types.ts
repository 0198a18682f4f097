import type { LensName } from '../capture/types.js';

/** State slice `rtsp`: the local RTSP server for NVRs. Never the password. */
export interface RtspState {
  /**
   * `disabled` (the default), `sleeping` (sleep mode: no server), `no-address` (no LAN address to
   * listen on yet), `starting`, `running`, `failed` (the helper keeps exiting; see reason).
   */
  status: 'disabled' | 'sleeping' | 'no-address' | 'starting' | 'running' | 'failed';
  address?: string;
  port: number;
  /** rtsp://address:port/<lens>, without credentials. */
  urls: Partial<Record<LensName, string>>;
  /** Clients pulling video now (each counts as a live viewer). */
  clients: number;
  reason?: string;
}

declare module '../state/store.js' {
  interface CamState {
    rtsp?: RtspState;
  }
}
