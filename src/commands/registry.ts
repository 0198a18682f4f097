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

/**
 * Who may run a command (README "Who may do what"); every command declares one:
 * - `cloud`: any caller. The cloud operates the camera (PTZ, lights, live view, snapshots,
 *   detection settings); the local shell may too.
 * - `presence`: the local shell; the cloud only while someone is physically at the camera — a
 *   short RESET press opened the presence window, or the camera is not yet provisioned (in setup).
 * - `local`: the local shell only (camctl over the socket: someone with a shell on the board).
 */
export type Access = 'cloud' | 'presence' | 'local';

/** The caller's connection, for a command that streams (a `*.follow`): items after its reply, until it hangs up. */
export interface StreamSink {
  emit(item: unknown): void;
  /** Runs `fn` when the caller hangs up (at once if it already has): where a follower unsubscribes. */
  onClose(fn: () => void): void;
}

export interface CommandMeta {
  source: CommandSource;
  /** Only the control socket streams; the cloud (one reply per request) never has one. */
  stream?: StreamSink;
}

export interface CommandDef<S extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  args: S;
  /** Who may run it; the registry refuses other callers with `forbidden` before validation. */
  access: Access;
  handler(args: z.output<S>, meta: CommandMeta): unknown; // a value or a Promise of one
}

/** A refused request, as the log line and the `security` event describe it. */
export interface Refusal {
  source: CommandSource;
  /** The command, or `config/desired`. */
  command: string;
  rule: string;
  message: string;
  path?: string;
}

export interface AccessPolicy {
  /** Physical presence proven now (RESET presence window open, or the camera is in setup)? */
  presence(): boolean;
  /** Told of every refusal (the supervisor emits the event). */
  refused(r: Refusal): void;
}

/** Whether `source` may use something of class `access` now. */
export function mayUse(access: Access, source: CommandSource, presence: () => boolean): boolean {
  if (source === 'local') return true;
  if (access === 'cloud') return true;
  return access === 'presence' && presence();
}

/** The rule a refusal names, for the error message, the log and the event. */
export function ruleText(access: Access): string {
  return access === 'local'
    ? 'local only: needs the local shell (camctl on the device)'
    : 'needs physical presence: press RESET briefly, then retry within the presence window';
}

export type CommandResult = { ok: true; result: unknown } | { ok: false; error: ErrorBody };

const NAME = /^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$/;

export class CommandRegistry {
  private readonly defs = new Map<string, { owner: object; def: CommandDef }>();
  private policy: AccessPolicy = { presence: () => false, refused: () => undefined };

  constructor(private readonly log: Logger) {}

  /** The supervisor's presence proof and refusal reporting (until set: no presence, no events). */
  setPolicy(policy: AccessPolicy): void {
    this.policy = policy;
  }

  get access(): AccessPolicy {
    return this.policy;
  }

  register<S extends z.ZodType>(owner: object, def: CommandDef<S>): void {
    if (!NAME.test(def.name)) throw new Error(`bad command name ${def.name}`);
    if (this.defs.has(def.name)) throw new Error(`command ${def.name} registered twice`);
    this.defs.set(def.name, { owner, def: def });
  }

  removeOwner(owner: object): void {
    for (const [name, entry] of this.defs) if (entry.owner === owner) this.defs.delete(name);
  }

  /** The commands a source can see: the cloud never sees local-only ones (they do not exist for it). */
  list(source?: CommandSource): { name: string; summary: string; access: Access; args: unknown }[] {
    return [...this.defs.values()]
      .filter(({ def }) => source !== 'cloud' || def.access !== 'local')
      .map(({ def }) => ({ name: def.name, summary: def.summary, access: def.access, args: z.toJSONSchema(def.args, { unrepresentable: 'any' }) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  /** Never throws: every outcome is a CommandResult, and every failure is logged. */
  async execute(name: string, rawArgs: unknown, meta: CommandMeta): Promise<CommandResult> {
    const entry = this.defs.get(name);
    try {
      // Local-only commands do not exist for the cloud (as before: it cannot even probe them).
      if (!entry || (meta.source === 'cloud' && entry.def.access === 'local')) {
        throw new CamdError('unknown_command', `unknown command "${name}"`);
      }
      if (!mayUse(entry.def.access, meta.source, () => this.policy.presence())) {
        throw new CamdError('forbidden', `${name}: ${ruleText(entry.def.access)}`);
      }
      const args = parseOrThrow(entry.def.args, rawArgs ?? {});
      const result = await entry.def.handler(args, meta);
      return { ok: true, result: result ?? null };
    } catch (err) {
      const error =
        err instanceof CamdError ? err.toBody() : ({ code: 'failed', message: errorMessage(err) } satisfies ErrorBody);
      if (error.code === 'forbidden') {
        // Refusals (of the command, or of a settings path inside it) are reported once, here.
        this.report({ source: meta.source, command: name, rule: error.message, message: error.message, ...(error.path !== undefined && { path: error.path }) });
      } else {
        this.log.warn({ command: name, source: meta.source, error }, 'command failed');
      }
      return { ok: false, error };
    }
  }

  /** Logs a refusal and tells the policy (for the `security` event); never throws. */
  report(r: Refusal): void {
    this.log.warn({ command: r.command, source: r.source, rule: r.rule, path: r.path }, 'request refused (forbidden)');
    try {
      this.policy.refused(r);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'refusal report failed');
    }
  }
}

/** Shorthand for commands without arguments. */
export const NoArgs = z.object({}).strict();
