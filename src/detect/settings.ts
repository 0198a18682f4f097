import type { Config } from '../config/schema.js';
import type { LensName } from '../domain/types.js';
import type { Polygon } from './types.js';

/**
 * The part of the owner's config one lens pipeline needs, flattened for that lens. Built from
 * `config.detection` by `settingsForLens`; the pipeline takes it whole on every config change.
 */
export type DetectionConfig = Config['detection'];
// One lens name everywhere (src/domain/types.ts); the config's per-lens areas are keyed by it.
export type { LensName };

export interface AlgorithmSettings {
  enabled: boolean;
  sensitivity: number;
  /** Areas of this lens; empty = the whole image. */
  areas: Polygon[];
}

export interface PipelineSettings {
  human: AlgorithmSettings;
  vehicle: AlgorithmSettings;
  change: AlgorithmSettings;
  maxRatePerLens: number;
  cooldownSeconds: number;
}

export function settingsForLens(det: DetectionConfig, lens: LensName): PipelineSettings {
  const alg = (a: DetectionConfig['human']): AlgorithmSettings => ({
    enabled: a.enabled,
    sensitivity: a.sensitivity,
    areas: a.areas[lens].map((p) => p.map(([x, y]) => [x, y] as const)),
  });
  return {
    human: alg(det.human),
    vehicle: alg(det.vehicle),
    change: alg(det.change),
    maxRatePerLens: det.maxRatePerLens,
    cooldownSeconds: det.cooldownSeconds,
  };
}

/** Everything on, default sensitivity, whole image: what the eval tool and bench use. */
export function allEnabled(sensitivity = 50, maxRatePerLens = 5, cooldownSeconds = 30): PipelineSettings {
  const a = (): AlgorithmSettings => ({ enabled: true, sensitivity, areas: [] });
  return { human: a(), vehicle: a(), change: a(), maxRatePerLens, cooldownSeconds };
}
