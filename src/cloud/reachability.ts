import type { Clock, TimerHandle } from '../core/clock.js';
import type { StateStore } from '../state/store.js';

export const UNREACHABLE_FAULT = 'cloud.unreachable';

/**
 * The LED's "network exception" for the cloud link: a `network` fault once the broker has been
 * unreachable for longer than `network.offlineGraceSeconds` (a short blip or a slow boot shows
 * nothing), cleared on the next CONNACK. A refused link (plaintext not allowed) is a fault at
 * once: waiting will not fix it.
 */
export class Reachability {
  private offlineSince: number | undefined;
  private timer: TimerHandle | undefined;
  private raised = false;

  constructor(
    private readonly opts: { clock: Clock; state: StateStore; graceMs(): number; describe(): string },
  ) {}

  offline(): void {
    this.offlineSince ??= this.opts.clock.now();
    if (this.raised) this.raise();
    else this.arm();
  }

  online(): void {
    this.offlineSince = undefined;
    this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.raised = false;
    this.opts.state.clearFault(UNREACHABLE_FAULT);
  }

  refused(): void {
    this.offlineSince ??= this.opts.clock.now();
    this.raise();
  }

  /** The grace period changed in the config: re-arm against the new value. */
  regrace(): void {
    if (this.offlineSince !== undefined && !this.raised) this.arm();
  }

  stop(): void {
    this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.opts.state.clearFault(UNREACHABLE_FAULT);
  }

  private arm(): void {
    this.opts.clock.clearTimeout(this.timer);
    const wait = Math.max(0, this.offlineSince! + this.opts.graceMs() - this.opts.clock.now());
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      this.raise();
    }, wait);
  }

  private raise(): void {
    this.raised = true;
    const { state, clock } = this.opts;
    state.raiseFault(UNREACHABLE_FAULT, { kind: 'network', component: 'cloud', message: this.opts.describe() }, clock.now());
  }
}
