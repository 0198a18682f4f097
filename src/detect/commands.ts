import { z } from 'zod';
import { ConfigSchema } from '../config/schema.js';
import { CamdError } from '../core/errors.js';
import { NoArgs } from '../commands/registry.js';
import type { Context } from '../supervisor/service.js';

/**
 * `detection.get` and `detection.set`. The arguments of `detection.set` are cut from the config
 * schema itself (same bounds, same polygon rules), and the change goes through
 * ctx.config.patch: the config stays the one source of truth, and the detection service applies
 * it from its config listener before the reply leaves.
 */
const Detection = ConfigSchema.shape.detection.unwrap();
const Alg = Detection.shape.human.unwrap();
const AreasShape = Alg.shape.areas.unwrap().shape;

export const DetectionSetArgs = z
  .object({
    algorithm: z.enum(['human', 'vehicle', 'change']),
    enabled: Alg.shape.enabled.unwrap().optional(),
    sensitivity: Alg.shape.sensitivity.unwrap().optional(),
    areas: z
      .object({ wide: AreasShape.wide.unwrap().optional(), ptz: AreasShape.ptz.unwrap().optional() })
      .strict()
      .optional()
      .describe('polygons per lens, normalised; a lens left out keeps its areas, [] = the whole image'),
  })
  .strict();

export function registerDetectionCommands(owner: object, ctx: Context, snapshot: () => unknown): void {
  ctx.commands.register(owner, {
    name: 'detection.get',
    access: 'cloud',
    summary: 'detection settings (human, vehicle, change) and per-lens statistics, model status',
    args: NoArgs,
    handler: () => snapshot(),
  });
  ctx.commands.register(owner, {
    name: 'detection.set',
    access: 'cloud',
    summary: 'change one algorithm (human|vehicle|change): enabled, sensitivity 1..100, areas per lens; applied live',
    args: DetectionSetArgs,
    handler: async ({ algorithm, enabled, sensitivity, areas }) => {
      const change: Record<string, unknown> = {};
      if (enabled !== undefined) change.enabled = enabled;
      if (sensitivity !== undefined) change.sensitivity = sensitivity;
      if (areas !== undefined && (areas.wide !== undefined || areas.ptz !== undefined)) change.areas = areas;
      if (Object.keys(change).length === 0) throw new CamdError('invalid_args', 'nothing to change: give enabled, sensitivity or areas', 'algorithm');
      await ctx.config.patch({ detection: { [algorithm]: change } }, 'detection.set');
      return snapshot();
    },
  });
}
