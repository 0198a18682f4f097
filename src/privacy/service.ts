import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Context, Service } from '../supervisor/service.js';

/** What the state tells everyone about the owner's privacy choices (slice `privacy`). */
export interface PrivacyState {
  /**
   * `recording.audio`: the microphone goes into the recordings on the card. Off by default; only
   * the owner turns it on (the setting), and every change raises a `privacy` event.
   */
  audioRecording: boolean;
  /** When it took its current value: the change, or the boot if it already had it then. */
  since: number;
  /** The config change source of the last change since boot (`cloud`, `command`, `factory-reset`, …). */
  changedBy?: string;
}

declare module '../state/store.js' {
  interface CamState {
    privacy?: PrivacyState;
  }
}

export const AUDIO_EVENT = 'privacy.audio-recording';

/**
 * Makes the owner's privacy choices visible. Audio recording (PRODUCT.md §8: it captures
 * conversations) is a setting like any other, so it can change from camctl, `config.set`,
 * `config/desired` or a factory reset; whichever it is, `state.privacy`
 * shows the value at once and a `camera.event` (kind `privacy`, type `privacy.audio-recording`,
 * `data: {on, source}`) tells the cloud. The event kind is not one the outbox drops first when
 * it is full: the owner must learn that the microphone went into the recordings.
 *
 * The capture service is what really muxes the microphone (only when this setting is on and a
 * card records, src/capture/args.ts); this service only reports the setting.
 */
export class PrivacyService implements Service {
  readonly name = 'privacy';
  private unsubscribe: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly ctx: Context) {
    this.log = ctx.log('privacy');
  }

  async start(): Promise<void> {
    const { ctx } = this;
    ctx.state.set('privacy', { audioRecording: ctx.config.get().recording.audio, since: ctx.clock.now() });
    this.unsubscribe = ctx.config.onChange(this, (cfg, _paths, source) => {
      const on = cfg.recording.audio;
      if (on === ctx.state.get().privacy?.audioRecording) return;
      const now = ctx.clock.now();
      ctx.state.set('privacy', { audioRecording: on, since: now, changedBy: source });
      this.log.info({ audioRecording: on, source }, on ? 'audio recording turned ON: the microphone goes into recordings' : 'audio recording turned off');
      ctx.bus.emit('camera.event', { id: randomUUID(), ts: now, kind: 'privacy', type: AUDIO_EVENT, data: { on, source } });
    });
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

export const privacyService = (ctx: Context): Service => new PrivacyService(ctx);
