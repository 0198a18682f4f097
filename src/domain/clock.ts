/**
 * The moment the system clock became trustworthy. A board without an RTC runs on a wrong clock
 * (1970, or the last fake-hwclock save) until NTP answers and steps it; everything that holds a
 * wall time taken before that moment (capture's stream anchors, recordings waiting as pre-roll,
 * recordings kept meanwhile) moves by `stepMs` so its times are right afterwards — however small
 * the step: a recording kept meanwhile is renamed, and loses its `u` mark, even for a step of a
 * few ms, or it would stay "time unsure" for good although its time is right.
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

// A module, so the declaration above augments the bus's events instead of replacing them.
export {};
