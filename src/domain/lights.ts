/**
 * A light the camera itself switches (the alarm's strobes and spotlight, the IR-cut filter's
 * illuminator). Shared by the feature that switches it and the change detector that must ignore
 * the image change it causes.
 */
export type LightSource = 'spotlight' | 'strobe' | 'ircut';

declare module '../state/bus.js' {
  interface BusEvents {
    /**
     * Sent just before the camera switches a light it owns, so the change detector ignores the
     * image change the camera itself causes. For `strobe`, on=true means "flashing from now until
     * a matching on=false". `ts` is the clock time of the switch.
     */
    'lights.changing': { source: LightSource; on: boolean; ts: number };
  }
}
