import type { Logger } from 'pino';
import { CamdError, errorMessage, type ErrorBody } from '../core/errors.js';
import { redactDeep } from '../core/redact.js';
import type { CommandRegistry, CommandResult } from '../commands/registry.js';
import { decodeObject, peekRequestId, type InboundMessage } from './inbound.js';
import type { Topics } from './topics.js';

export const MAX_REPLY_BYTES = 256 * 1024;
/** Commands running at once from the cloud; more get `busy` (a flood cannot pile up work). */
export const MAX_CONCURRENT_COMMANDS = 8;

export type ReplyBody = CommandResult & { requestId?: string };
export type ReplySink = (topic: string, payload: string, correlationData?: Buffer) => Promise<void>;

/**
 * `cmd/<name>` → the command registry → exactly one reply.
 *
 * The reply goes to the MQTT 5 response topic with the request's correlation data when the
 * response topic lies under `<base>/reply/` (the only place replies belong: anywhere else under
 * the base a reply would be re-run as a command, applied as settings, or forge an event or the
 * state), else to `cmd/<name>/reply`. A `requestId` string in the payload is reserved: it is removed before
 * validation and echoed in the reply (for MQTT 3.1.1 clients without correlation data).
 * Validation is the registry's (the same zod schema camctl goes through), so a bad value never
 * reaches a service.
 */
export class CommandRouter {
  private active = 0;

  constructor(
    private readonly opts: { topics: Topics; commands: CommandRegistry; log: Logger; reply: ReplySink; maxConcurrent?: number },
  ) {}

  async handle(msg: InboundMessage): Promise<void> {
    const { topics, log } = this.opts;
    const name = topics.commandName(msg.topic);
    if (name === undefined) {
      log.warn({ topic: msg.topic }, 'message on an unexpected topic ignored');
      return;
    }
    if (msg.retain && msg.payload.length === 0) {
      // An empty retained message is how a retained message is deleted: not a command.
      log.info({ command: name }, 'retained command message cleared');
      return;
    }
    let replyTo = topics.commandReply(name);
    if (msg.responseTopic !== undefined) {
      if (topics.isReplyTopic(msg.responseTopic)) replyTo = msg.responseTopic;
      else log.warn({ command: name, responseTopic: msg.responseTopic, allowed: `${topics.replyPrefix}…` }, 'response topic not under the reply prefix; replying on the fallback topic');
    }
    let requestId: string | undefined;
    let body: ReplyBody;
    try {
      const decoded = decodeObject(msg.payload, 'requestId');
      requestId = decoded.requestId;
      if (msg.retain) {
        throw new CamdError('invalid_args', 'retained command messages are not executed (they would replay on every connect); publish with retain=false');
      }
      body = await this.execute(name, decoded.doc);
    } catch (err) {
      const error: ErrorBody = err instanceof CamdError ? err.toBody() : { code: 'failed', message: errorMessage(err) };
      requestId ??= peekRequestId(msg.payload, 'requestId');
      log.warn({ command: name, error, bytes: msg.payload.length }, 'cloud command rejected');
      body = { ok: false, error };
    }
    if (requestId !== undefined) body.requestId = requestId;
    await this.send(name, replyTo, body, msg.correlationData);
  }

  private async execute(name: string, args: Record<string, unknown>): Promise<ReplyBody> {
    if (this.active >= (this.opts.maxConcurrent ?? MAX_CONCURRENT_COMMANDS)) {
      throw new CamdError('busy', `${this.active} commands are already running; retry later`);
    }
    this.active++;
    try {
      return await this.opts.commands.execute(name, args, { source: 'cloud' });
    } finally {
      this.active--;
    }
  }

  private async send(name: string, topic: string, body: ReplyBody, correlationData: Buffer | undefined): Promise<void> {
    let text: string;
    try {
      // Replies leave the device: no URL secret in a result or an error message (src/core/redact.ts).
      text = JSON.stringify(redactDeep(body));
    } catch (err) {
      text = JSON.stringify(failure(body, 'failed', `the result could not be encoded: ${errorMessage(err)}`));
    }
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_REPLY_BYTES) {
      this.opts.log.error({ command: name, bytes }, 'command reply too large; sending an error instead');
      text = JSON.stringify(failure(body, 'too_large', `the command ran but its result (${bytes} bytes) exceeds the ${MAX_REPLY_BYTES}-byte reply limit`));
    }
    try {
      await this.opts.reply(topic, text, correlationData);
    } catch (err) {
      // The link dropped meanwhile: commands are not replayed, so the caller times out and retries.
      this.opts.log.warn({ command: name, topic, err: errorMessage(err) }, 'command reply not sent');
    }
  }
}

function failure(body: ReplyBody, code: ErrorBody['code'], message: string): ReplyBody {
  return { ok: false, error: { code, message }, ...(body.requestId !== undefined && { requestId: body.requestId }) };
}
