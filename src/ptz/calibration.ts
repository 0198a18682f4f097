/**
 * Tap to look: a point on the wide-angle image → pan/tilt for the PTZ lens.
 *
 * Model (config `ptz.calibration`): the PTZ angle that centres a point is linear in the point's
 * normalised image coordinate, and the wide lens's own pan shifts the whole mapping:
 *
 *   pan  = panAtLeft + x · (panAtRight − panAtLeft) + (widePan − widePanDeg)
 *   tilt = tiltAtTop + y · (tiltAtBottom − tiltAtTop)
 *
 * x, y ∈ [0, 1] with (0, 0) the top-left corner; widePan is the wide lens's current pan and
 * widePanDeg the wide pan at calibration time (absent = the board's wide-lens home). The two
 * lenses sit a few centimetres apart, so parallax is negligible beyond a couple of metres, and
 * the wide lens's tilt is set by hand and stays put. Linear-in-angle is exact for an
 * equidistant (f·θ) fisheye and within a few degrees for a rectilinear lens up to ~90° field of
 * view, which a close-up lens absorbs; follow-target re-aims on every new box anyway.
 *
 * Calibration: point the PTZ lens at a landmark, then tell the camera where that landmark is on
 * the wide image (`ptz.calibrate {x, y}`); repeat for ≥2 landmarks far apart horizontally and
 * vertically (4+ spread over the image is better). Each pair also records the wide pan, so the
 * wide lens may move between pairs. Pan and tilt are fitted by least squares separately.
 */
export interface Calibration {
  panAtLeft: number;
  panAtRight: number;
  tiltAtTop: number;
  tiltAtBottom: number;
  widePanDeg?: number;
}

export interface CalibrationPair {
  x: number;
  y: number;
  widePan: number;
  pan: number;
  tilt: number;
}

export function lookAngles(cal: Calibration, x: number, y: number, widePan: number, defaultWidePan: number): { pan: number; tilt: number } {
  const ref = cal.widePanDeg ?? defaultWidePan;
  return {
    pan: cal.panAtLeft + x * (cal.panAtRight - cal.panAtLeft) + (widePan - ref),
    tilt: cal.tiltAtTop + y * (cal.tiltAtBottom - cal.tiltAtTop),
  };
}

/** Least-squares line v = a + b·u; undefined when the u values do not spread enough to fix b. */
export function fitLine(points: readonly { u: number; v: number }[], minSpread: number): { a: number; b: number; rms: number } | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  const mu = points.reduce((s, p) => s + p.u, 0) / n;
  const mv = points.reduce((s, p) => s + p.v, 0) / n;
  let suu = 0;
  let suv = 0;
  for (const p of points) {
    suu += (p.u - mu) ** 2;
    suv += (p.u - mu) * (p.v - mv);
  }
  const spread = Math.max(...points.map((p) => p.u)) - Math.min(...points.map((p) => p.u));
  if (spread < minSpread || suu === 0) return undefined;
  const b = suv / suu;
  const a = mv - b * mu;
  const rms = Math.sqrt(points.reduce((s, p) => s + (p.v - (a + b * p.u)) ** 2, 0) / n);
  return { a, b, rms };
}

/** Landmarks closer than this (image fraction) cannot fix a slope: the fit would amplify pointing error. */
export const MIN_SPREAD = 0.2;

export interface CalibrationFit {
  /** Fields to patch into config ptz.calibration (only the axes the pairs determine). */
  patch: Partial<Calibration>;
  pan: { fitted: boolean; rmsDeg?: number };
  tilt: { fitted: boolean; rmsDeg?: number };
}

/** Fits the model to the pairs; the wide-pan reference is the first pair's wide pan. */
export function fitCalibration(pairs: readonly CalibrationPair[]): CalibrationFit {
  const first = pairs[0];
  if (!first) return { patch: {}, pan: { fitted: false }, tilt: { fitted: false } };
  const ref = first.widePan;
  const panFit = fitLine(pairs.map((p) => ({ u: p.x, v: p.pan - (p.widePan - ref) })), MIN_SPREAD);
  const tiltFit = fitLine(pairs.map((p) => ({ u: p.y, v: p.tilt })), MIN_SPREAD);
  const patch: Partial<Calibration> = {};
  if (panFit) Object.assign(patch, { panAtLeft: round(panFit.a), panAtRight: round(panFit.a + panFit.b), widePanDeg: round(ref) });
  if (tiltFit) Object.assign(patch, { tiltAtTop: round(tiltFit.a), tiltAtBottom: round(tiltFit.a + tiltFit.b) });
  return {
    patch,
    pan: panFit ? { fitted: true, rmsDeg: round(panFit.rms) } : { fitted: false },
    tilt: tiltFit ? { fitted: true, rmsDeg: round(tiltFit.rms) } : { fitted: false },
  };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
