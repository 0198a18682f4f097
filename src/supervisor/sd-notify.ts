import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';

/**
 * systemd's notify protocol (Type=notify, WatchdogSec=). Node has no AF_UNIX datagram sockets, so
 * the message goes through `systemd-notify`, which systemd ships on every board that has the unit;
 * the unit sets NotifyAccess=all because the sender is that helper, not our PID. Without
 * NOTIFY_SOCKET (dev shell, tests) every call is a no-op.
 */
export class SdNotify {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly binary = 'systemd-notify',
  ) {}

  get enabled(): boolean {
    return !!this.env.NOTIFY_SOCKET;
  }

  send(...assignments: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve) => {
      execFile(this.binary, [`--pid=${process.pid}`, ...assignments], { env: this.env, timeout: 5000 }, (err) => {
        if (err) this.log.warn({ err: err.message, assignments }, 'sd_notify failed');
        resolve();
      });
    });
  }

  ready(status: string): Promise<void> {
    return this.send('--ready', `--status=${status}`);
  }

  stopping(): Promise<void> {
    return this.send('STOPPING=1');
  }

  /** Pings at half of WATCHDOG_USEC while `healthy()` holds; a wedged event loop stops the pings. */
  startWatchdog(healthy: () => boolean): void {
    const usec = Number(this.env.WATCHDOG_USEC ?? 0);
    if (!this.enabled || !usec) return;
    const period = Math.max(500, Math.floor(usec / 2000));
    this.timer = this.clock.setInterval(() => {
      if (healthy()) void this.send('WATCHDOG=1');
    }, period);
  }

  stopWatchdog(): void {
    this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }
}
