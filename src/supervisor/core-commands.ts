import { z } from 'zod';
import { CamdError } from '../core/errors.js';
import { NoArgs } from '../commands/registry.js';
import { getPath } from '../config/merge.js';
import { authorizeSettings } from '../config/access.js';
import { ConfigSchema } from '../config/schema.js';
import type { Context, Service } from './service.js';
import { registerSimViewCommands } from './sim-view-commands.js';

/** The commands every boot has: status, config and the sim board's test hooks. */
export class CoreCommands implements Service {
  readonly name = 'core-commands';

  constructor(private readonly ctx: Context) {}

  async start(): Promise<void> {
    const { ctx } = this;
    const reg = <S extends z.ZodType>(def: Parameters<typeof ctx.commands.register<S>>[1]): void => ctx.commands.register(this, def);

    reg({
      name: 'status',
      access: 'cloud',
      summary: 'the whole live state: LED and why, outputs, reset button, services, faults',
      args: NoArgs,
      handler: () => this.status(),
    });
    reg({ name: 'commands', access: 'cloud', summary: 'list the commands and their argument schemas', args: NoArgs, handler: (_a, meta) => ctx.commands.list(meta.source) });
    reg({
      name: 'config.get',
      access: 'cloud',
      summary: 'the running config, or one value by dotted path',
      args: z.object({ path: z.string().max(200).optional() }).strict(),
      handler: ({ path }) => {
        const cfg = ctx.config.get();
        if (!path) return cfg;
        const value = getPath(cfg, path);
        if (value === undefined) throw new CamdError('not_found', `no setting at ${path}`, path);
        return value;
      },
    });
    reg({
      name: 'config.set',
      access: 'cloud',
      summary: 'change settings with a JSON merge patch; validated whole, applied atomically or not at all',
      args: z.object({ patch: z.record(z.string(), z.unknown()) }).strict(),
      handler: async ({ patch }, meta) => {
        const { changed } = await ctx.config.patch(patch, `config.set (${meta.source})`, (paths) => authorizeSettings(paths, meta.source, () => ctx.commands.access.presence()));
        return { changed, pendingRestart: ctx.config.status().pendingRestart };
      },
    });
    reg({
      name: 'config.schema',
      access: 'cloud',
      summary: 'the config JSON schema (types, bounds, defaults, docs)',
      args: NoArgs,
      handler: () => z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }),
    });
    // `output.set` (the hand switch of the siren, strobes and spotlight) is registered by the
    // alarm service (src/alarm/service.ts): every switch of a deterrent goes through its holds,
    // so its on-time bounds cannot be bypassed.

    const sim = ctx.hardware.sim;
    if (sim) {
      reg({
        name: 'sim.press',
        access: 'local',
        summary: '(sim board) press a button for a number of milliseconds',
                args: z.object({ button: z.enum(['reset']), ms: z.number().int().min(1).max(60_000) }).strict(),
        handler: ({ button, ms }) => {
          // Answer at once; the press plays out on the sim board's clock.
          sim.press(button, ms).catch((err: unknown) => ctx.log('sim').error({ err: String(err) }, 'sim press failed'));
          return { button, ms };
        },
      });
      reg({
        name: 'sim.timeline',
        access: 'local',
        summary: '(sim board) every pin edge, register write and UART byte, optionally since a time',
                args: z.object({ since: z.number().optional(), limit: z.number().int().min(1).max(100_000).default(200), kind: z.enum(['gpio', 'i2c', 'serial']).optional() }).strict(),
        handler: ({ since, limit, kind }) => {
          const all = sim.timeline.entries((e) => (since === undefined || e.t >= since) && (kind === undefined || e.kind === kind));
          return all.slice(-limit);
        },
      });
      registerSimViewCommands(ctx, sim, reg);
    }
  }

  async stop(): Promise<void> {}

  private status(): Record<string, unknown> {
    const { ctx } = this;
    const state = ctx.state.get();
    return {
      now: ctx.clock.now(),
      board: { name: ctx.board.name, model: ctx.board.model, file: ctx.boardFile, backend: ctx.board.backend },
      uptimeMs: ctx.clock.now() - state.startedAt,
      ...state,
      outputs: ctx.hardware.outputs(),
      hardwareFailures: ctx.hardware.failures,
      secrets: ctx.secrets.summary(),
    };
  }
}

export const coreCommands = (ctx: Context): Service => new CoreCommands(ctx);
