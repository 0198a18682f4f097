import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { OnceChild, OnceRunner } from '../supervisor/runner.js';
import type { Clock } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import type { Speaker } from './args.js';
import { talkArgs } from './args.js';
import { ffmpegFailure } from './ffmpeg-error.js';
import type { MediaTarget } from './url-policy.js';

/** How long talk may take to play its first audio (the URL must connect, the stream start). */
export const TALK_START_TIMEOUT_MS = 15_000;

/**
 * Talk playback: the app's audio (a URL) on the speaker. The siren wins: while it sounds the
 * playback is suspended (its ffmpeg stopped, the speaker free) and resumes when it stops.
 * `play()` answers once audio plays, or fails with ffmpeg's reason (redacted; a TLS server that
 * was not accepted named as such) — a URL that never plays is refused, not reported later.
 */
export class Talk {
  private proc: OnceChild | undefined;
  private stopping = false;
  suspended = false;
  readonly since: number;

  constructor(
    readonly target: MediaTarget,
    private readonly deps: {
      procs: OnceRunner;
      speaker: Speaker;
      volume(): number;
      clock: Clock;
      log: Logger;
      /** The CA file of TLS talk URLs (tls.ts), found again at every (re)start. */
      caFile(): Promise<string | undefined>;
      /** Playback ended on its own after it had started (the stream ended or failed); redacted. */
      onEnded(detail: string): void;
    },
  ) {
    this.since = deps.clock.now();
  }

  get redacted(): string {
    return this.target.redacted;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async play(): Promise<void> {
    if (this.stopping || this.proc) return;
    this.suspended = false;
    const { speaker, clock } = this.deps;
    if (speaker.kind === 'wav') await fs.mkdir(dirname(speaker.file), { recursive: true });
    const caFile = this.target.verifyTls ? await this.deps.caFile() : undefined;
    const proc = this.deps.procs.start({ name: 'talk', args: talkArgs(this.target, speaker, this.deps.volume(), caFile), stdout: 'pipe' });
    this.proc = proc;
    let playing = false;
    const started = new Promise<void>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        reject(new CamdError('unavailable', `talk: no audio within ${TALK_START_TIMEOUT_MS / 1000} s`, 'url'));
        void proc.stop();
      }, TALK_START_TIMEOUT_MS);
      createInterface({ input: proc.child.stdout! }).on('line', (line) => {
        // Audio has been written once the output clock moves.
        const m = /^out_time_us=(\d+)/.exec(line);
        if (m && Number(m[1]) > 0 && !playing) {
          playing = true;
          clock.clearTimeout(timer);
          resolve();
        }
      });
      void proc.done.then((res) => {
        clock.clearTimeout(timer);
        if (playing) return;
        // The siren came first: the session stands, suspended, and plays when the siren stops.
        if (this.suspended) return resolve();
        // A stream shorter than one progress report still played; anything else never did.
        if (res.code === 0 && !this.stopping) {
          playing = true;
          resolve();
        } else reject(new CamdError('unavailable', `talk failed: ${ffmpegFailure(res)}`, 'url'));
      });
    });
    started.catch(() => undefined);
    void proc.done.then(async (res) => {
      // Replaced (suspended, resumed, stopped): whoever replaced it speaks for the session.
      if (this.proc !== proc) return;
      this.proc = undefined;
      if (this.stopping || this.suspended || !playing) return;
      // After the caller heard "playing" (its reply and talk.started go first).
      await started.catch(() => undefined);
      setImmediate(() => this.deps.onEnded(res.code === 0 ? 'stream ended' : ffmpegFailure(res)));
    });
    try {
      await started;
    } catch (err) {
      if (this.proc === proc) this.proc = undefined;
      throw err;
    }
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
