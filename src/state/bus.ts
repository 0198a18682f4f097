import type { Logger } from 'pino';
import { clockSynced } from '../core/clock-sync.js';

/**
 * The typed event map. Each module adds its own events by declaration merging, so no file
 * becomes the place everyone edits:
 *
 *   declare module '../state/bus.js' { interface BusEvents { 'storage.full': { lens: string } } }
 */
 
export interface BusEvents {
  /** A user-visible event (detection, alarm, storage, button, error) bound for the cloud outbox. */
  'camera.event': CameraEvent;
  /** A physical button changed; `heldMs` is set on release. */
  'button.changed': { button: string; pressed: boolean; heldMs?: number };
  'config.changed': { paths: string[]; source: string };
}

export type CameraEventKind = 'detection' | 'alarm' | 'storage' | 'button' | 'error' | 'system' | 'ptz' | 'live' | 'security' | 'privacy';

/** The one shape every event has on its way to the outbox and the cloud. */
export interface CameraEvent {
  /** Unique id (UUID v4): the cloud de-duplicates on it. */
  id: string;
  /** Epoch milliseconds when the daemon observed it. */
  ts: number;
  kind: CameraEventKind;
  /** Short machine name, e.g. `human.start`, `card.removed`, `reset.factory`. */
  type: string;
  lens?: string;
  data?: Record<string, unknown>;
  /**
   * Whether the clock was NTP-synchronised when `ts` was taken (src/time): false = `ts` may be
   * far off (a board without RTC boots in 1970). Stamped by emit(); absent when nothing knows.
   */
  clockSynced?: boolean;
}

type Handler<T> = (payload: T) => void | Promise<void>;

interface Registration {
  owner: object;
  ownerName: string;
  handler: Handler<never>;
}

export class EventBus {
  private readonly handlers = new Map<keyof BusEvents, Registration[]>();

  constructor(private readonly log: Logger) {}

  /** Register a handler; `owner` groups handlers so `removeOwner` drops them all at stop(). */
  on<K extends keyof BusEvents>(owner: object, name: K, handler: Handler<BusEvents[K]>): () => void {
    const ownerName = (owner as { name?: unknown }).name;
    const reg: Registration = {
      owner,
      ownerName: typeof ownerName === 'string' ? ownerName : owner.constructor.name,
      handler: handler,
    };
    const list = this.handlers.get(name) ?? [];
    list.push(reg);
    this.handlers.set(name, list);
    return () => {
      const cur = this.handlers.get(name);
      if (cur) this.handlers.set(name, cur.filter((r) => r !== reg));
    };
  }

  removeOwner(owner: object): void {
    for (const [name, list] of this.handlers) this.handlers.set(name, list.filter((r) => r.owner !== owner));
  }

  /** Delivers synchronously in registration order; a throwing handler is logged with its owner and skipped. */
  emit<K extends keyof BusEvents>(name: K, payload: BusEvents[K]): void {
    // Every camera event carries the clock's verdict at the moment it was emitted: one stamp here
    // rather than in each of the dozen services that emit them.
    if (name === 'camera.event') payload = stampClock(payload as CameraEvent) as BusEvents[K];
    for (const reg of [...(this.handlers.get(name) ?? [])]) {
      try {
        const res = (reg.handler as Handler<BusEvents[K]>)(payload);
        if (res && typeof (res).catch === 'function') {
          (res).catch((err: unknown) => this.fail(reg, String(name), err));
        }
      } catch (err) {
        this.fail(reg, String(name), err);
      }
    }
  }

  listenerCount(name: keyof BusEvents): number {
    return this.handlers.get(name)?.length ?? 0;
  }

  private fail(reg: Registration, event: string, err: unknown): void {
    this.log.error({ err, event, owner: reg.ownerName }, 'event handler failed');
  }
}

function stampClock(ev: CameraEvent): CameraEvent {
  const synced = clockSynced();
  return synced === undefined || ev.clockSynced !== undefined ? ev : { ...ev, clockSynced: synced };
}
