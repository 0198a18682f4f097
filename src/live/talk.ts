import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { OnceProcess, ProcessSet } from '../capture/proc.js';
import type { Speaker } from './args.js';
import { talkArgs } from './args.js';
import { redactUrl } from './url.js';

export type TalkEnd = 'stopped' | 'ended' | 'sleep' | 'replaced';

/**
 * Talk playback: the app's audio (a URL) on the speaker. The siren wins: while it sounds the
 * playback is suspended (its ffmpeg stopped, the speaker free) and resumes when it stops.
 */
export class Talk {
  private proc: OnceProcess | undefined;
  private stopping = false;
  suspended = false;
  readonly since: number;

  constructor(
    readonly url: URL,
    private readonly deps: {
      procs: ProcessSet;
      speaker: Speaker;
      volume(): number;
      now(): number;
      log: Logger;
      /** Playback ended on its own (the stream ended or failed). */
      onEnded(detail: string): void;
    },
  ) {
    this.since = deps.now();
  }

  get redacted(): string {
    return redactUrl(this.url);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async play(): Promise<void> {
    if (this.stopping || this.proc) return;
    this.suspended = false;
    const { speaker } = this.deps;
    if (speaker.kind === 'wav') await fs.mkdir(dirname(speaker.file), { recursive: true });
    const proc = this.deps.procs.start({ name: 'talk', args: talkArgs(this.url, speaker, this.deps.volume()) });
    this.proc = proc;
    void proc.done.then((res) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      if (this.stopping || this.suspended) return;
      const detail = res.code === 0 ? 'stream ended' : res.stderr.slice(-1)[0] ?? `exit ${res.code ?? res.signal}`;
      this.deps.onEnded(detail);
    });
  }

  /** The siren sounds: free the speaker, keep the session. */
  async suspend(): Promise<void> {
    if (this.suspended) return;
    this.suspended = true;
    const p = this.proc;
    this.proc = undefined;
    await p?.stop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const p = this.proc;
    this.proc = undefined;
    await p?.stop();
  }
}
