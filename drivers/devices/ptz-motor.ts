import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import { HardwareError } from '../errors.js';
import type { SerialLink } from '../serial/types.js';
import { EXT, interpret, pelcoD, PelcoDParser, type PelcoDFrame } from './pelco-d.js';
import type { AxisPosition, PtzMotor } from './types.js';

export interface PelcoDBusOptions {
  clock: Clock;
  /** How long a query waits for its reply (board.ptz.replyTimeoutMs). */
  replyTimeoutMs: number;
  log?: Logger;
}

interface Pending {
  address: number;
  code: number;
  what: string;
  resolve(f: PelcoDFrame): void;
  reject(err: Error): void;
  timer: TimerHandle | undefined;
}

/**
 * The daemon's side of the shared RS-485 line. Half duplex with several receivers: only one
 * exchange may be on the wire at a time, so every command and query of every motor on the
 * line goes through this one queue, and a reply is matched by address and response code.
 * A reply that arrives after its timeout is dropped with the parser state.
 */
export class PelcoDBus {
  private chain: Promise<unknown> = Promise.resolve();
  private pending: Pending | undefined;
  private readonly parser: PelcoDParser;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    private readonly link: SerialLink,
    private readonly opts: PelcoDBusOptions,
  ) {
    this.parser = new PelcoDParser((candidate) => this.onBadFrame(candidate));
    this.unsubscribe = link.onData((chunk) => {
      for (const frame of this.parser.push(chunk)) this.onFrame(frame);
    });
  }

  get name(): string {
    return this.link.name;
  }

  /** Sends a command that gets no reply. */
  send(frame: Uint8Array): Promise<void> {
    return this.enqueue(() => this.link.write(frame));
  }

  /** Sends a query and resolves with the reply from `address` carrying `code`. */
  request(frame: Uint8Array, address: number, code: number, what: string): Promise<PelcoDFrame> {
    return this.enqueue(async () => {
      const reply = new Promise<PelcoDFrame>((resolve, reject) => {
        this.pending = { address, code, what, resolve, reject, timer: undefined };
      });
      const pending = this.pending!;
      try {
        await this.link.write(frame);
      } catch (err) {
        this.settle(pending, err as Error);
        return reply;
      }
      // The clock starts once the query has left: a reply cannot be late before it was asked.
      if (this.pending === pending) {
        pending.timer = this.opts.clock.setTimeout(() => {
          this.parser.reset();
          this.settle(pending, new HardwareError('ETIMEDOUT', `Pelco-D receiver ${address} on ${this.link.name} did not answer the ${what} query within ${this.opts.replyTimeoutMs} ms`));
        }, this.opts.replyTimeoutMs);
      }
      return reply;
    });
  }

  /** Rejects the exchange in progress and everything queued; the link itself is the owner's. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.pending) this.settle(this.pending, new HardwareError('EBADF', `Pelco-D bus ${this.link.name} is closed`));
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.closed) throw new HardwareError('EBADF', `Pelco-D bus ${this.link.name} is closed`);
      return job();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private onFrame(frame: PelcoDFrame): void {
    const p = this.pending;
    if (p && frame.address === p.address && frame.cmd2 === p.code) {
      this.settle(p, undefined, frame);
      return;
    }
    this.opts.log?.debug({ port: this.link.name, frame: interpret(frame) }, 'unsolicited Pelco-D frame ignored');
  }

  private onBadFrame(candidate: Uint8Array): void {
    const p = this.pending;
    // Only a candidate that looks like the awaited reply fails the query; line noise does not.
    if (p && candidate[1] === p.address && candidate[3] === p.code) {
      this.settle(p, new HardwareError('EBADMSG', `Pelco-D receiver ${p.address} on ${this.link.name}: ${p.what} reply with a bad checksum`));
    }
  }

  private settle(p: Pending, err?: Error, frame?: PelcoDFrame): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    this.opts.clock.clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(frame!);
  }
}

/**
 * One Pelco-D receiver on the bus. Commands resolve when sent (receivers do not acknowledge);
 * `queryPosition` asks pan then tilt. A pan-only motor (the wide lens) is never asked for tilt.
 */
export class PelcoDMotor implements PtzMotor {
  readonly hasTilt: boolean;

  constructor(
    private readonly bus: PelcoDBus,
    readonly address: number,
    opts: { tilt?: boolean } = {},
  ) {
    this.hasTilt = opts.tilt ?? true;
  }

  async move(panSpeed: number, tiltSpeed: number): Promise<void> {
    await this.bus.send(pelcoD.move(this.address, panSpeed, this.hasTilt ? tiltSpeed : 0));
  }

  async stop(): Promise<void> {
    await this.bus.send(pelcoD.stop(this.address));
  }

  async gotoPan(deg: number): Promise<void> {
    await this.bus.send(pelcoD.setPanPosition(this.address, deg));
  }

  async gotoTilt(deg: number): Promise<void> {
    if (!this.hasTilt) throw new HardwareError('EINVAL', `Pelco-D receiver ${this.address} has no tilt axis`);
    await this.bus.send(pelcoD.setTiltPosition(this.address, deg));
  }

  async setPreset(n: number): Promise<void> {
    await this.bus.send(pelcoD.setPreset(this.address, n));
  }

  async clearPreset(n: number): Promise<void> {
    await this.bus.send(pelcoD.clearPreset(this.address, n));
  }

  async gotoPreset(n: number): Promise<void> {
    await this.bus.send(pelcoD.gotoPreset(this.address, n));
  }

  async queryPosition(): Promise<AxisPosition> {
    const pan = await this.bus.request(pelcoD.queryPan(this.address), this.address, EXT.PAN_POSITION_REPLY, 'pan position');
    const tilt = this.hasTilt ? await this.bus.request(pelcoD.queryTilt(this.address), this.address, EXT.TILT_POSITION_REPLY, 'tilt position') : undefined;
    return { pan: degOf(pan), tilt: tilt ? degOf(tilt) : 0 };
  }
}

function degOf(frame: PelcoDFrame): number {
  const cmd = interpret(frame);
  if (cmd.type !== 'pan-position' && cmd.type !== 'tilt-position') throw new HardwareError('EBADMSG', `unexpected Pelco-D reply ${frame.cmd2}`);
  return cmd.deg;
}
