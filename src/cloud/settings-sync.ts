import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { CamdError, errorMessage, type ErrorBody } from '../core/errors.js';
import type { ConfigStore } from '../config/store.js';
import { authorizeSettings } from '../config/access.js';
import type { CommandRegistry } from '../commands/registry.js';
import { decodeObject, peekRequestId, type InboundMessage } from './inbound.js';

export type LastDesired =
  | { at: number; requestId?: string; result: 'accepted'; changed: string[] }
  | { at: number; requestId?: string; result: 'rejected'; error: ErrorBody };

/** `$requestId` cannot collide with a setting: no config key starts with `$`. */
export const DESIRED_REQUEST_KEY = '$requestId';

/**
 * Shadow-style settings sync. `config/desired` carries a JSON merge patch (RFC 7386) over the
 * running config; it is validated whole by the config schema and applied atomically by the
 * config store, or not at all. `config/reported` (retained) always holds the full running config
 * and the outcome of the last desired document; it is re-published on every config change from
 * any source (camctl, commands, factory reset) and on every connect.
 */
export class SettingsSync {
  private lastDesired: LastDesired | null = null;
  private unsubscribe: (() => void) | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly opts: {
      clock: Clock;
      config: ConfigStore;
      /** Whose access policy applies (presence) and where refusals are reported: the command table's. */
      commands: CommandRegistry;
      log: Logger;
      connected(): boolean;
      publish(payload: string): Promise<void>;
    },
  ) {}

  start(): void {
    this.unsubscribe = this.opts.config.onChange(() => this.schedule());
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  async handleDesired(msg: InboundMessage): Promise<void> {
    const { config, log, clock } = this.opts;
    if (msg.retain && msg.payload.length === 0) return; // deleting a retained message, not a document
    let requestId: string | undefined;
    try {
      const decoded = decodeObject(msg.payload, DESIRED_REQUEST_KEY);
      requestId = decoded.requestId;
      if (msg.retain) {
        throw new CamdError('invalid_args', 'retained desired documents are not applied (a stale one would undo later local changes on every connect); publish with retain=false');
      }
      // The cloud may change only cloud-class settings (src/config/access.ts), checked on the paths
      // that really change, before anything is written.
      const { changed } = await config.patch(decoded.doc, 'cloud', (paths) => authorizeSettings(paths, 'cloud', () => this.opts.commands.access.presence()));
      this.lastDesired = { at: clock.now(), ...(requestId !== undefined && { requestId }), result: 'accepted', changed };
      log.info({ changed, requestId }, 'desired config applied');
    } catch (err) {
      const error: ErrorBody = err instanceof CamdError ? err.toBody() : { code: 'failed', message: errorMessage(err) };
      requestId ??= peekRequestId(msg.payload, DESIRED_REQUEST_KEY);
      this.lastDesired = { at: clock.now(), ...(requestId !== undefined && { requestId }), result: 'rejected', error };
      if (error.code === 'forbidden') {
        this.opts.commands.report({ source: 'cloud', command: 'config/desired', rule: error.message, message: error.message, ...(error.path !== undefined && { path: error.path }) });
      }
      log.warn({ error, requestId, bytes: msg.payload.length }, 'desired config rejected; nothing changed');
    }
    this.schedule();
  }

  /** The reported document now (on connect). */
  async publishNow(): Promise<void> {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    await this.publish();
  }

  reported(): Record<string, unknown> {
    const { config, clock } = this.opts;
    const status = config.status();
    return { ts: clock.now(), config: config.get(), source: status.source, pendingRestart: status.pendingRestart, lastDesired: this.lastDesired };
  }

  /**
   * One publish per burst: an accepted desired document fires the config listener first and
   * sets lastDesired a few microtasks later; both land in the same publish.
   */
  private schedule(): void {
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      void this.publish();
    });
  }

  private async publish(): Promise<void> {
    if (!this.opts.connected()) return;
    try {
      await this.opts.publish(JSON.stringify(this.reported()));
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err) }, 'config/reported not published');
    }
  }
}
