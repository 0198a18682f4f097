import { z } from 'zod';
import type { Logger } from 'pino';
import { CamdError, errorMessage, type ErrorBody } from '../core/errors.js';
import { parseOrThrow } from '../core/schema-util.js';

/**
 * One table of commands for every way in: the local control socket (camctl) and the cloud (MQTT
 * `cmd/<name>`). Arguments are validated by each command's zod schema before the handler runs,
 * so a bad value never reaches a service and nothing is half-applied by validation failures.
 */
export type CommandSource = 'local' | 'cloud';

export interface CommandMeta {
  source: CommandSource;
}

export interface CommandDef<S extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  args: S;
  /** Local-only commands (sim button presses, timeline) are not reachable from the cloud. */
  localOnly?: boolean;
  handler(args: z.output<S>, meta: CommandMeta): Promise<unknown> | unknown;
}

export type CommandResult = { ok: true; result: unknown } | { ok: false; error: ErrorBody };

const NAME = /^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$/;

export class CommandRegistry {
  private readonly defs = new Map<string, { owner: object; def: CommandDef }>();

  constructor(private readonly log: Logger) {}

  register<S extends z.ZodType>(owner: object, def: CommandDef<S>): void {
    if (!NAME.test(def.name)) throw new Error(`bad command name ${def.name}`);
    if (this.defs.has(def.name)) throw new Error(`command ${def.name} registered twice`);
    this.defs.set(def.name, { owner, def: def as unknown as CommandDef });
  }

  removeOwner(owner: object): void {
    for (const [name, entry] of this.defs) if (entry.owner === owner) this.defs.delete(name);
  }

  list(source?: CommandSource): { name: string; summary: string; localOnly: boolean; args: unknown }[] {
    return [...this.defs.values()]
      .filter(({ def }) => source !== 'cloud' || !def.localOnly)
      .map(({ def }) => ({ name: def.name, summary: def.summary, localOnly: !!def.localOnly, args: z.toJSONSchema(def.args, { unrepresentable: 'any' }) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  /** Never throws: every outcome is a CommandResult, and every failure is logged. */
  async execute(name: string, rawArgs: unknown, meta: CommandMeta): Promise<CommandResult> {
    const entry = this.defs.get(name);
    try {
      if (!entry || (meta.source === 'cloud' && entry.def.localOnly)) {
        throw new CamdError('unknown_command', `unknown command "${name}"`);
      }
      const args = parseOrThrow(entry.def.args, rawArgs ?? {});
      const result = await entry.def.handler(args, meta);
      return { ok: true, result: result ?? null };
    } catch (err) {
      const error =
        err instanceof CamdError ? err.toBody() : ({ code: 'failed', message: errorMessage(err) } satisfies ErrorBody);
      this.log.warn({ command: name, source: meta.source, error }, 'command failed');
      return { ok: false, error };
    }
  }
}

/** Shorthand for commands without arguments. */
export const NoArgs = z.object({}).strict();
