/**
 * The moment the system clock became trustworthy. A board without an RTC runs on a wrong clock
 * (1970, or the last fake-hwclock save) until NTP answers and steps it; everything that holds a
 * wall time taken before that moment (capture's stream anchors, recordings waiting as pre-roll,
 * recordings kept meanwhile) moves by `stepMs` so its times are right afterwards.
 */
declare module '../state/bus.js' {
  interface BusEvents {
    /**
     * The clock is synchronised now. `stepMs` is how far the wall clock moved relative to the
     * monotonic clock while it was not (0 when the time service cannot tell, e.g. it was synced
     * from the start); `ts` is the (new, right) time of the verdict.
     */
    'clock.stepped': { stepMs: number; ts: number };
  }
}

/** Steps smaller than this are drift NTP slews away; times that far off are left as they are. */
export const REDATE_MIN_STEP_MS = 2_000;
