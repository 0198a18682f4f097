import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { removeDurably, removeStaleTemps, writeFileAtomic } from '../core/atomic-file.js';
import { errorMessage } from '../core/errors.js';
import { parseOrThrow } from '../core/schema-util.js';
import { SecretsSchema, type Secrets } from './schema.js';

/**
 * Credentials (Wi-Fi, cloud binding, MQTT) in their own file, mode 0600, never in the config
 * and never in a log line or the state. A factory reset deletes the file.
 */
export class SecretsStore {
  private current: Secrets = {};
  private loadError: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  get(): Secrets {
    return this.current;
  }

  error(): string | undefined {
    return this.loadError;
  }

  /** A summary safe to show (which secrets exist, never their values). */
  summary(): Record<string, boolean> {
    return { wifi: !!this.current.wifi, binding: !!this.current.binding, mqtt: !!this.current.mqtt };
  }

  async load(): Promise<Secrets> {
    try {
      const gone = await removeStaleTemps(this.file);
      if (gone.length) this.log.warn({ file: this.file, removed: gone.length }, 'removed temp files left by an interrupted write');
    } catch (err) {
      this.log.warn({ file: this.file, err: errorMessage(err) }, 'cannot clear stale temp files');
    }
    try {
      // Before the content is judged: a corrupt file holds credentials as much as a good one.
      await this.tighten();
      const text = await fs.readFile(this.file, 'utf8');
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        // Never echo the parser's message: it quotes the file, i.e. a credential.
        throw new Error('not valid JSON');
      }
      this.current = parseOrThrow(SecretsSchema, raw);
      this.loadError = undefined;
    } catch (err) {
      this.current = {};
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.loadError = `${this.file}: ${errorMessage(err)}`;
        this.log.error({ file: this.file, error: errorMessage(err) }, 'secrets file unusable; running without credentials');
      }
    }
    return this.current;
  }

  /** Someone loosened the mode by hand: tighten it rather than leave credentials readable. */
  private async tighten(): Promise<void> {
    const st = await fs.stat(this.file);
    if ((st.mode & 0o077) === 0) return;
    await fs.chmod(this.file, 0o600);
    this.log.warn({ file: this.file, mode: (st.mode & 0o777).toString(8) }, 'secrets file was readable by others; mode set to 0600');
  }

  update(fn: (prev: Secrets) => Secrets): Promise<Secrets> {
    const run = this.queue.then(async () => {
      const next = parseOrThrow(SecretsSchema, fn(this.current));
      await writeFileAtomic(this.file, `${JSON.stringify(next)}\n`, 0o600);
      this.current = next;
      this.loadError = undefined;
      return next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  wipe(): Promise<void> {
    const run = this.queue.then(async () => {
      await removeDurably(this.file);
      this.current = {};
      this.loadError = undefined;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
