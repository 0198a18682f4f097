/**
 * How far a long operation is (the 360° view, a card initialise), in the state slice of the
 * service running it and only while it runs. The state, not stream lines on the request, because
 * every caller sees it the same way: camctl polls `status` (as it does for `state.update` and
 * `state.clipUpload`), the app gets it in the published state, and a second terminal or the
 * sim-view page can watch an operation someone else started.
 */
export interface Progress {
  /** What it does now, one word or two: `shot`, `stitching`, `erasing`. */
  phase: string;
  /** 1-based step of `steps` while the phase counts (shot 3 of 8). */
  step?: number;
  steps?: number;
  /** Epoch ms the operation began. */
  startedAt: number;
}
