import type { Outbox } from './outbox/outbox.js';
import type { OutRecord } from './outbox/record.js';


/**
 * Moves durable outbox records to the broker for one connection: QoS 1, in sequence order, at
 * most `window` in flight, each acked in the outbox on its PUBACK. A failed publish (the link
 * dropped, or the broker refused with a reason code) stops this pump; the session reconnects,
 * the outbox rewinds and a new pump re-sends from the first unacked record, keeping the order.
 */
export class EventPump {
  private inflight = 0;
  private active = true;
  private pumping = false;
  /** A kick arrived while a take() was under way: look again before going idle. */
  private wanted = false;

  constructor(
    private readonly opts: {
      outbox: Outbox;
      /** Events published and not yet PUBACKed, at most (Session.eventWindow). */
      window: number;
      publish(rec: OutRecord): Promise<void>;
      onAck(rec: OutRecord): void;
      onError(err: unknown, rec: OutRecord): void;
    },
  ) {}

  kick(): void {
    this.wanted = true;
    if (!this.active || this.pumping) return;
    void this.loop();
  }

  stop(): void {
    this.active = false;
  }

  private async loop(): Promise<void> {
    const window = this.opts.window;
    this.pumping = true;
    try {
      while (this.active && this.inflight < window) {
        this.wanted = false;
        const recs = await this.opts.outbox.take(window - this.inflight);
        if (!this.active) break;
        if (recs.length === 0) {
          if (this.wanted) continue;
          break;
        }
        for (const rec of recs) {
          this.inflight++;
          this.opts.publish(rec).then(
            () => this.settled(rec),
            (err: unknown) => this.failed(rec, err),
          );
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private settled(rec: OutRecord): void {
    if (!this.active) return;
    this.inflight--;
    this.opts.outbox.ack(rec.seq);
    this.opts.onAck(rec);
    this.kick();
  }

  private failed(rec: OutRecord, err: unknown): void {
    if (!this.active) return;
    this.active = false;
    this.opts.onError(err, rec);
  }
}
