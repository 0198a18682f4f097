import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { writeFileAtomic, removeDurably, removeStaleTemps } from '../core/atomic-file.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { OwnedListeners } from '../core/owned-listeners.js';
import { describeIssue, parseOrThrow } from '../core/schema-util.js';
import { ConfigSchema, defaultConfig, RESTART_REQUIRED, type Config } from './schema.js';
import { changedPaths, mergePatch } from './merge.js';

export interface ConfigStatus {
  /** Where the running config came from. */
  source: 'file' | 'defaults' | 'last-good';
  file: string;
  /** Set when the config file could not be used: the daemon runs on the last good copy or the defaults. */
  error?: { file: string; path: string; message: string };
  /** Changed fields that only apply after a restart. */
  pendingRestart: string[];
}

export type ConfigListener = (config: Config, paths: string[], source: string) => void;

/**
 * The owner's settings on disk: `config.json` plus `config.json.last-good`, the copy that last
 * validated. Writes are atomic and one at a time; a rejected change leaves memory and disk as
 * they were.
 */
export class ConfigStore {
  private current: Config;
  private statusValue: ConfigStatus;
  private readonly factory: Config;
  private readonly listeners = new OwnedListeners<ConfigListener>();
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `boardDefaults` is a merge patch over the schema's defaults from the board file: the sim board
   * points the cloud at a local plaintext broker, so that even after a factory reset it talks to it.
   */
  constructor(
    readonly file: string,
    private readonly log: Logger,
    boardDefaults: Record<string, unknown> = {},
  ) {
    this.factory = parseOrThrow(ConfigSchema, mergePatch(defaultConfig(), boardDefaults), 'configDefaults');
    this.current = this.factory;
    this.statusValue = { source: 'defaults', file, pendingRestart: [] };
  }

  get lastGoodFile(): string {
    return `${this.file}.last-good`;
  }

  get(): Config {
    return this.current;
  }

  /** The factory defaults on this board. */
  defaults(): Config {
    return this.factory;
  }

  status(): ConfigStatus {
    return this.statusValue;
  }

  /** Like StateStore.subscribe: with an `owner`, released by the supervisor when it stops. */
  onChange(listener: ConfigListener): () => void;
  onChange(owner: object, listener: ConfigListener): () => void;
  onChange(a: object | ConfigListener, b?: ConfigListener): () => void {
    return b ? this.listeners.add(a, b) : this.listeners.add(undefined, a as ConfigListener);
  }

  /** Drops every listener `owner` registered (supervisor, at the owner's stop). */
  removeOwner(owner: object): void {
    this.listeners.removeOwner(owner);
  }

  /** Never throws for a bad file: it falls back to the last good copy, then to the defaults. */
  async load(): Promise<Config> {
    // [hardening] Temps of a writer killed mid-write (kill -9, power cut): nothing writes before load.
    for (const f of [this.file, this.lastGoodFile]) {
      try {
        const gone = await removeStaleTemps(f);
        if (gone.length) this.log.warn({ file: f, removed: gone.length }, 'removed temp files left by an interrupted write');
      } catch (err) {
        this.log.warn({ file: f, err: errorMessage(err) }, 'cannot clear stale temp files');
      }
    }
    const primary = await this.readFile(this.file);
    if (primary.kind === 'ok') {
      this.current = primary.config;
      this.statusValue = { source: 'file', file: this.file, pendingRestart: [] };
      return this.current;
    }
    if (primary.kind === 'missing') {
      this.current = this.factory;
      this.statusValue = { source: 'defaults', file: this.file, pendingRestart: [] };
      return this.current;
    }
    const error = { file: this.file, path: primary.path, message: primary.message };
    this.log.error({ error }, 'config file rejected; falling back');
    const backup = await this.readFile(this.lastGoodFile);
    if (backup.kind === 'ok') {
      this.current = backup.config;
      this.statusValue = { source: 'last-good', file: this.file, error, pendingRestart: [] };
    } else {
      this.current = this.factory;
      this.statusValue = { source: 'defaults', file: this.file, error, pendingRestart: [] };
    }
    return this.current;
  }

  /**
   * Validate `patch` merged into the current config; persist; then notify. Throws CamdError on bad
   * input. `guard` sees the paths the patch really changes before anything is written (who may
   * change what: src/config/access.ts); a throw there leaves memory and disk as they were.
   */
  patch(patch: unknown, source: string, guard?: (changed: string[]) => void): Promise<{ config: Config; changed: string[] }> {
    return this.exclusive(async () => {
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        throw new CamdError('invalid_args', 'a config change must be a JSON object', '');
      }
      const next = parseOrThrow(ConfigSchema, mergePatch(this.current, patch));
      guard?.(changedPaths(this.current, next));
      return this.commit(next, source);
    });
  }

  /** Replace the whole config (missing keys take this board's factory defaults). */
  replace(doc: unknown, source: string): Promise<{ config: Config; changed: string[] }> {
    return this.exclusive(async () => this.commit(parseOrThrow(ConfigSchema, mergePatch(this.factory, doc)), source));
  }

  /** Factory reset: both files removed, defaults in memory. */
  reset(source: string): Promise<{ config: Config; changed: string[] }> {
    return this.exclusive(async () => {
      await removeDurably(this.file);
      await removeDurably(this.lastGoodFile);
      const next = this.factory;
      const changed = changedPaths(this.current, next);
      this.current = next;
      this.statusValue = { source: 'defaults', file: this.file, pendingRestart: [] };
      this.notify(changed, source);
      return { config: next, changed };
    });
  }

  private async commit(next: Config, source: string): Promise<{ config: Config; changed: string[] }> {
    const changed = changedPaths(this.current, next);
    const text = `${JSON.stringify(next, null, 2)}\n`;
    // Both copies are written before memory changes: a failed write leaves everything as it was.
    await writeFileAtomic(this.file, text, 0o640);
    await writeFileAtomic(this.lastGoodFile, text, 0o640);
    this.current = next;
    const pending = new Set(this.statusValue.pendingRestart);
    for (const p of changed) if (RESTART_REQUIRED.some((r) => p === r || p.startsWith(`${r}.`))) pending.add(p);
    this.statusValue = { source: 'file', file: this.file, pendingRestart: [...pending] };
    if (changed.length) this.log.info({ changed, source }, 'config changed');
    this.notify(changed, source);
    return { config: next, changed };
  }

  private notify(paths: string[], source: string): void {
    if (paths.length === 0) return;
    for (const l of this.listeners.snapshot()) {
      try {
        l(this.current, paths, source);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'config listener failed');
      }
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readFile(
    file: string,
  ): Promise<{ kind: 'ok'; config: Config } | { kind: 'missing' } | { kind: 'bad'; path: string; message: string }> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      return { kind: 'bad', path: '', message: `cannot read: ${errorMessage(err)}` };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return { kind: 'bad', path: '', message: `not valid JSON: ${errorMessage(err)}` };
    }
    // Keys the file does not have take this board's factory defaults, as a fresh camera would.
    const res = ConfigSchema.safeParse(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? mergePatch(this.factory, raw) : raw);
    if (!res.success) {
      const issue = describeIssue(res.error.issues[0]!);
      return { kind: 'bad', path: issue.path, message: issue.message };
    }
    return { kind: 'ok', config: res.data };
  }
}
