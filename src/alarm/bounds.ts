import type { Config } from '../config/schema.js';
import type { HoldSource, Output } from './holds.js';

/**
 * The longest one continuous *activation* of the Alarm command may last, however often it is
 * restarted: the largest `alarm.start {seconds}` and `alarm.timeoutSeconds` the schema accepts.
 */
export const MANUAL_ALARM_MAX_SECONDS = 900;

/**
 * How long one activation of `source` may hold `output` on (ms), whatever the command asked:
 *
 * | source | outputs | bound |
 * |---|---|---|
 * | `hand` (`output.set`) | siren, strobe lines | `alarm.timeoutSeconds` (the Alarm's own timeout) |
 * | `app` (`spotlight.set`, `output.set spotlight`) | spotlight | `lights.spotlightMaxSeconds` |
 * | `manual` (`alarm.start`) | siren, strobes | its `seconds` (or `alarm.timeoutSeconds`), restarts included at most 900 s |
 * | detections | their outputs | their own `*Seconds` (schema-bounded), renewed at most once per `detection.cooldownSeconds` |
 *
 * Detection alerts have no extra cap on purpose: a person who stays in view keeps the deterrent
 * going — that is its job — and only a new alerting detection (at most one per cooldown) renews it.
 */
export function holdCapMs(cfg: Config, output: Output, source: HoldSource): number {
  if (source === 'app' || (source === 'hand' && output === 'spotlight')) return cfg.lights.spotlightMaxSeconds * 1000;
  if (source === 'hand') return cfg.alarm.timeoutSeconds * 1000;
  if (source === 'manual') return MANUAL_ALARM_MAX_SECONDS * 1000;
  return Infinity;
}
