import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { NoArgs } from '../commands/registry.js';
import { qrPayload, type Identity } from '../identity/identity.js';
import type { CameraEventKind } from '../state/bus.js';
import type { Context } from '../supervisor/service.js';
import type { Outbox } from './outbox/outbox.js';
import { contractJsonSchemas } from './schema.js';
import type { Topics } from './topics.js';

const KINDS = ['detection', 'alarm', 'storage', 'button', 'error', 'system', 'ptz', 'live'] as const satisfies readonly CameraEventKind[];

/**
 * - `identity` (local only): what the housing label shows. The verification code proves
 *   physical access for binding, so it is not handed to cloud callers (shared accounts).
 * - `cloud.schema`: JSON Schemas of the state, event, reply and reported documents.
 * - `sim.emit-event` (sim board, local only): the documented test hook that injects cloud
 *   records (`camera.event`) through the bus, the way every feature's record reaches the outbox;
 *   replies once they are on flash. It is a record, not a detection: the alarm, the recorder and
 *   PTZ react to `detection.episode` only (use the sim footage to drive detection end to end).
 */
export function registerCloudCommands(owner: object, ctx: Context, deps: { identity: Identity; topics: Topics; outbox: Outbox }): void {
  const { identity, topics, outbox } = deps;
  ctx.commands.register(owner, {
    name: 'identity',
    access: 'local',
    summary: 'serial number, verification code and the QR payload of the housing label',
        args: NoArgs,
    handler: () => ({
      serial: identity.serial,
      verificationCode: identity.verificationCode,
      model: identity.model,
      qr: qrPayload(identity),
      baseTopic: topics.base,
    }),
  });
  ctx.commands.register(owner, {
    name: 'cloud.schema',
    access: 'cloud',
    summary: 'JSON Schemas of the published state, events, command replies and config/reported',
    args: NoArgs,
    handler: () => contractJsonSchemas(),
  });
  if (ctx.board.backend !== 'sim') return;
  ctx.commands.register(owner, {
    name: 'sim.emit-event',
    access: 'local',
    summary: '(sim board, test hook) emit camera events on the bus; replies once they are in the outbox on flash',
        args: z
      .object({
        count: z.number().int().min(1).max(100_000).default(1),
        kind: z.enum(KINDS).default('system'),
        type: z.string().regex(/^[a-z0-9._-]{1,64}$/).default('test.event'),
        lens: z.enum(['wide', 'ptz']).optional(),
        data: z.record(z.string(), z.unknown()).optional(),
      })
      .strict(),
    handler: async ({ count, kind, type, lens, data }) => {
      const ids: string[] = [];
      for (let n = 0; n < count; n++) {
        const id = randomUUID();
        ids.push(id);
        ctx.bus.emit('camera.event', { id, ts: ctx.clock.now(), kind, type, ...(lens && { lens }), data: { ...data, n } });
      }
      await outbox.flushed();
      return { count, firstId: ids[0], lastId: ids.at(-1), depth: outbox.stats().depth };
    },
  });
}
