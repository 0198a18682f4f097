import { createInterface } from 'node:readline';
import type { Clock, TimerHandle } from '../core/clock.js';
import { CamdError } from '../core/errors.js';
import type { OnceChild, OnceRunner } from '../supervisor/runner.js';
import { ffmpegFailure } from './ffmpeg-error.js';

/** How long a push may take to get its first frame out (a keyframe may be seconds away, the URL must connect). */
export const START_TIMEOUT_MS = 15_000;
/** A push whose frame count stops moving for this long is cut (a viewer gone without closing). */
export const PUSH_STALL_MS = 15_000;

export type EndReason = 'stopped' | 'sleep' | 'ended' | 'stalled' | 'restart';

/**
 * One ffmpeg pushing to a URL. `started` resolves once frames are leaving (the progress report
 * counts frames), or rejects with ffmpeg's reason when the URL cannot be reached (a TLS server
 * that was not accepted named as such). After that, the push ends when the remote side closes
 * (viewer left / URL died: ffmpeg exits), when frames stop moving, or on stop(); `ended` resolves
 * with the reason. Every detail is redacted: ffmpeg quotes the URL, stream key included.
 */
export class LivePush {
  frames = 0;
  private proc: OnceChild;
  private stallTimer: TimerHandle | undefined;
  private stopReason: EndReason | undefined;
  readonly started: Promise<void>;
  readonly ended: Promise<{ reason: EndReason; detail: string }>;

  constructor(
    procs: OnceRunner,
    args: string[],
    private readonly clock: Clock,
    name: string,
  ) {
    this.proc = procs.start({ name, args, stdout: 'pipe' });
    let resolveStarted!: () => void;
    let rejectStarted!: (e: Error) => void;
    this.started = new Promise((res, rej) => {
      resolveStarted = res;
      rejectStarted = rej;
    });
    // Nobody may be waiting for `started` any more when the push dies later.
    this.started.catch(() => undefined);
    const startTimer = clock.setTimeout(() => {
      rejectStarted(new CamdError('failed', `no video went out within ${START_TIMEOUT_MS / 1000} s`, 'url'));
      void this.stop('stalled');
    }, START_TIMEOUT_MS);
    createInterface({ input: this.proc.child.stdout! }).on('line', (line) => {
      const m = /^frame=(\d+)/.exec(line);
      if (!m) return;
      const n = Number(m[1]);
      if (n > this.frames) {
        this.frames = n;
        this.armStall();
        clock.clearTimeout(startTimer);
        resolveStarted();
      }
    });
    this.ended = this.proc.done.then((res) => {
      clock.clearTimeout(startTimer);
      clock.clearTimeout(this.stallTimer);
      const detail = ffmpegFailure(res);
      rejectStarted(new CamdError('unavailable', `live push failed: ${detail}`, 'url'));
      return { reason: this.stopReason ?? 'ended', detail };
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async stop(reason: EndReason): Promise<void> {
    this.stopReason ??= reason;
    await this.proc.stop();
  }

  private armStall(): void {
    this.clock.clearTimeout(this.stallTimer);
    this.stallTimer = this.clock.setTimeout(() => void this.stop('stalled'), PUSH_STALL_MS);
  }
}
