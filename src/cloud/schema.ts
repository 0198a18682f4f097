import { z } from 'zod';

/**
 * Schemas of what the device publishes: the documentation of the MQTT contract (README.md, "Cloud interface (MQTT)")
 * and what the tests check real payloads against. `cloud.schema` returns them as JSON Schema.
 */
export const CloudHealthSchema = z
  .object({
    link: z.enum(['connecting', 'online', 'offline', 'refused', 'stopped']).describe('state of the MQTT session'),
    connected: z.boolean(),
    broker: z.string().describe('broker URL from cloud.url (never credentials)'),
    baseTopic: z.string(),
    since: z.number().describe('when `link` last changed (epoch ms)'),
    lastConnectedAt: z.number().optional(),
    lastError: z.string().optional(),
    attempt: z.number().int().describe('failed connection attempts since the last stable session'),
    nextRetryAt: z.number().optional(),
    lastPubackAt: z.number().optional().describe('last event PUBACK (epoch ms)'),
    outbox: z
      .object({
        depth: z.number().int().describe('events not yet delivered'),
        bytes: z.number().int().describe('bytes of the outbox on flash'),
        maxBytes: z.number().int(),
        dropped: z.number().int().describe('events dropped by the full-outbox policy since the last factory reset'),
        inFlight: z.number().int(),
        segments: z.number().int().describe('segment files on flash'),
        writeError: z.string().optional(),
      })
      .strict(),
  })
  .strict();
export type CloudHealth = z.infer<typeof CloudHealthSchema>;

/*
 * The `state` and `telemetry` views of the cloud slice: CloudHealth split by TELEMETRY_PATHS
 * (src/cloud/telemetry-split.ts). The unit test of the split checks both against real slices.
 */
const OutboxShape = CloudHealthSchema.shape.outbox;
const CloudStateSchema = CloudHealthSchema.omit({ attempt: true, nextRetryAt: true, lastPubackAt: true })
  .extend({ outbox: OutboxShape.pick({ maxBytes: true, writeError: true }).strict() })
  .strict();
const CloudTelemetrySchema = CloudHealthSchema.pick({ attempt: true, nextRetryAt: true, lastPubackAt: true })
  .extend({ outbox: OutboxShape.pick({ depth: true, bytes: true, dropped: true, inFlight: true, segments: true }).strict() })
  .strict();

const Fault = z.object({ kind: z.enum(['camera', 'network']), component: z.string(), message: z.string(), since: z.number() }).strict();
const ServiceHealth = z
  .object({ status: z.enum(['starting', 'running', 'failed', 'stopped', 'degraded', 'disabled']), error: z.string().optional(), since: z.number() })
  .strict();

/**
 * The retained `state` document: the store without its telemetry fields, published on change.
 * The core slices are described here; slices of other modules (storage, capture, detection…)
 * appear as further top-level keys with their owners' shapes, less their telemetry fields.
 */
export const PublishedStateSchema = z
  .object({
    schema: z.literal(1),
    ts: z.number().describe('publish time (epoch ms)'),
    serial: z.string(),
    model: z.string(),
    board: z.string(),
    uptimeMs: z.number().describe('at publish time; not a reason to publish'),
    lifecycle: z.enum(['booting', 'running', 'stopping', 'stopped']),
    bootId: z.string(),
    bootCount: z.number().int(),
    startedAt: z.number(),
    faults: z.record(z.string(), Fault),
    services: z.record(z.string(), ServiceHealth),
    children: z.record(
      z.string(),
      z
        .object({ name: z.string(), kind: z.enum(['supervised', 'once']).optional(), status: z.string() })
        .loose()
        .describe('supervised children; pid, restarts and since: in telemetry; one-shot children: only in telemetry'),
    ),
    network: z.object({ phase: z.enum(['unknown', 'connecting', 'online', 'exception', 'provisioning']), reason: z.string().optional() }).loose(),
    liveViewers: z.number().int(),
    sleeping: z.boolean(),
    config: z
      .object({
        source: z.enum(['file', 'defaults', 'last-good']),
        error: z.object({ path: z.string(), message: z.string() }).loose().optional(),
        pendingRestart: z.array(z.string()),
        secretsError: z.boolean().optional().describe('the secrets file is unusable (details only in the local log)'),
      })
      .loose()
      .optional(),
    cloud: CloudStateSchema.optional(),
  })
  .catchall(z.unknown());
/** @public The published state as a backend reads it (the wire contract; nothing in the daemon needs the type). */
export type PublishedState = z.infer<typeof PublishedStateSchema>;

const num = z.number();
const HealthTelemetrySchema = z
  .object({
    at: num.describe('sample time (epoch ms)'),
    cpu: z.object({ loadPercent: num, loadAverage1m: num }).strict(),
    temperatureC: num.nullable().describe('null: the board has no sensor'),
    memory: z.object({ availableBytes: num, usedPercent: num }).strict(),
    disks: z.record(z.string(), z.object({ usedBytes: num, availableBytes: num, usePercent: num }).strict()),
    uptimeSeconds: num.nullable(),
  })
  .partial()
  .strict()
  .describe('a failed reading is null in the state (with its error there), not here');

/**
 * The retained `telemetry` document, every `cloud.telemetrySeconds` and on connect: the store's
 * fast-moving fields (src/cloud/telemetry-split.ts) at the same paths as in the store, so a deep
 * merge over the `state` gives the whole store. Counters count since the boot `bootId`.
 */
export const TelemetrySchema = z
  .object({
    schema: z.literal(1),
    ts: z.number().describe('publish time (epoch ms)'),
    uptimeMs: z.number(),
    bootId: z.string().describe('counters restart at every boot: a new bootId means a new baseline'),
    children: z
      .record(
        z.string(),
        z
          .object({
            pid: z.number().int().optional(),
            restarts: z.number().int(),
            since: z.number().optional().describe('start of the running process (epoch ms)'),
            name: z.string().optional(),
            kind: z.literal('once').optional(),
            status: z.string().optional(),
          })
          .strict()
          .describe('supervised: the fast fields of state.children; one-shot children (key `<name>#<pid>`) whole, while they run'),
      )
      .optional(),
    cloud: CloudTelemetrySchema.optional(),
    health: HealthTelemetrySchema.optional(),
    network: z
      .object({ wifi: z.object({ signal: num.nullable() }).strict(), check: z.object({ at: num, latencyMs: num }).partial().strict() })
      .partial()
      .strict()
      .optional(),
  })
  .catchall(z.unknown().describe('telemetry fields of other slices (capture, detection, recording, storage, ptz, live)'));
/** @public The telemetry record as a backend reads it (the wire contract). */
export type Telemetry = z.infer<typeof TelemetrySchema>;

export const EventPayloadSchema = z
  .object({
    id: z.string().describe('UUID; the cloud de-duplicates on it'),
    ts: z.number().int(),
    kind: z.enum(['detection', 'alarm', 'storage', 'button', 'error', 'system', 'ptz', 'live', 'security', 'privacy']),
    type: z.string(),
    lens: z.string().optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    clockSynced: z.boolean().optional().describe('false: the camera\'s clock was not synchronised when it happened, so `ts` may be far off (a clock.synced event follows)'),
    seq: z.number().int().positive().describe('outbox order; restarts at 1 after a factory reset'),
  })
  .strict();

export const ErrorBodySchema = z
  .object({
    code: z.enum(['malformed', 'unknown_command', 'invalid_args', 'confirmation_required', 'forbidden', 'unavailable', 'busy', 'not_found', 'too_large', 'failed']),
    message: z.string(),
    path: z.string().optional(),
    confirm: z.string().optional().describe('confirmation_required: the one-time token to send back as `confirm`'),
    details: z.record(z.string(), z.unknown()).optional().describe('confirmation_required: what would be destroyed (storage.initialise: the card)'),
  })
  .strict();

export const ReplySchema = z.union([
  z.object({ ok: z.literal(true), result: z.unknown(), requestId: z.string().optional() }).strict(),
  z.object({ ok: z.literal(false), error: ErrorBodySchema, requestId: z.string().optional() }).strict(),
]);

export const ReportedSchema = z
  .object({
    ts: z.number(),
    config: z.record(z.string(), z.unknown()).describe('the full running config'),
    source: z.enum(['file', 'defaults', 'last-good']),
    pendingRestart: z.array(z.string()),
    lastDesired: z
      .union([
        z.object({ at: z.number(), requestId: z.string().optional(), result: z.literal('accepted'), changed: z.array(z.string()) }).strict(),
        z.object({ at: z.number(), requestId: z.string().optional(), result: z.literal('rejected'), error: ErrorBodySchema }).strict(),
      ])
      .nullable(),
  })
  .strict();

export function contractJsonSchemas(): Record<string, unknown> {
  const opts = { unrepresentable: 'any' } as const;
  return {
    state: z.toJSONSchema(PublishedStateSchema, opts),
    telemetry: z.toJSONSchema(TelemetrySchema, opts),
    event: z.toJSONSchema(EventPayloadSchema, opts),
    reply: z.toJSONSchema(ReplySchema, opts),
    reported: z.toJSONSchema(ReportedSchema, opts),
  };
}
