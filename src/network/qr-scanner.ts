import jsQRModule from 'jsqr';
import type { Logger } from 'pino';
import type { LensName, TapFrame, TapPlane } from '../capture/types.js';
import type { SleepGate } from '../state/sleep-gate.js';

/**
 * Provisioning by QR code through the wide lens: the app shows a Wi-Fi QR code on the phone's
 * screen, the owner holds it in front of the camera. No listener is opened for it, on any
 * interface, at any time — the only input is light.
 *
 * **Frames: the capture service's tap, not a lens reader of its own.** While scanning, the
 * scanner listens to the wide lens's `capture.frame` events and decodes at most `fps` of them a
 * second with jsQR (pure JS). So no second ffmpeg decodes the wide stream (a whole extra H.264
 * decode on the board), and nothing here can read the lens that capture, with its sleep handling,
 * does not already read.
 *
 * **The gray plane, made larger on demand.** jsQR wants RGBA but only looks at luminance (it
 * binarises a grey image it computes from R, G and B); the tap's gray plane *is* the luma, at
 * one byte a pixel, so it is expanded to RGBA (R = G = B = Y) into the scanner's own buffer. The
 * RGB plane would bring nothing but three times the bytes, and at 640x360 it is as small as the
 * problem below. The detectors' gray plane (capture.tap, default 352x198) is too small for QR
 * codes: jsQR needs about 1.5 px per module on a clean synthetic image and more on a camera's
 * (measured with the payload of test/integration/network-qr.test.ts: a version-4 code, 33
 * modules, decodes from 62 px, not from 51 px); on a real image count 2.5-3 px a module, ~100 px
 * for the code. A phone's code is ~5.5 cm; a wide lens (~100° across) 40 cm away sees ~95 cm, so
 * the code is ~6 % of the picture's width: ~20 px at 352 — never readable at arm's length — and
 * ~55 px at 960 (readable from ~25-30 cm). So, while scanning, the scanner sends a
 * `capture.tap.demand` for a gray plane `maxWidth` wide (960, what the former ffmpeg scanner
 * used, and the lens's aspect) and withdraws it when it stops; capture restarts the wide pipeline
 * once each way (src/capture/types.ts TapDemand). Meanwhile the wide lens's change detection runs
 * on the larger plane too (~7x the pixels, a few ms a frame: accepted for the minutes of
 * provisioning). Capture forgets demands when it restarts, so a frame smaller than asked for
 * makes the scanner ask again (at most every few seconds; capture ignores a repeated demand).
 *
 * Decoding is deferred to a later turn of the event loop, as the tap's contract asks (the handler
 * only copies); a frame arriving while a decode waits is dropped and counted. One decode of a
 * 960x540 frame with both inversions blocks the loop ~0.2-0.35 s (measured on the dev machine;
 * the former ffmpeg scanner paid the same at the same size and rate): hence at most `fps` (1)
 * a second, and only while provisioning. A worker thread would lift it off the loop.
 *
 * **Sleep mode wins over provisioning**: capture delivers no frames while the camera sleeps,
 * and the scanner also ignores any that come while the sleep gate (the owner's setting or the
 * published flag) says asleep, and stops listening. `start()` only records that scanning is
 * wanted; listening starts when the camera wakes.
 */
// jsqr is CommonJS with an ES-style `default` export: under NodeNext the default import is the
// module object; the function is its `default` (and the object itself at run time).
const jsQR = jsQRModule.default;

/** `off`: not wanted; `asleep`: wanted, waiting for the camera to wake; `scanning`: reading the tap. */
export type QrScannerStatus = 'off' | 'asleep' | 'scanning';

declare module '../state/store.js' {
  interface NetworkSummary {
    /** The provisioning QR reader (absent: off); `asleep`: wanted, but the camera sleeps. */
    qrScanner?: Exclude<QrScannerStatus, 'off'>;
  }
}

/** How often a too-small frame may repeat the demand for the larger plane. */
const REDEMAND_MS = 3000;

export interface QrScannerOptions {
  /** The lens read: the wide lens. */
  lensName: LensName;
  /** Its picture size: the plane asked for keeps its aspect and is never larger. */
  lens: { width: number; height: number };
  /** Decodes per second at most. */
  fps: number;
  /** Width of the gray plane asked for while scanning (see above). */
  maxWidth: number;
  /** Listen to `capture.frame`; returns the unsubscribe function. */
  frames(handler: (f: TapFrame) => void): () => void;
  /** Emit `capture.tap.demand` for this lens (null: withdraw). */
  demand(gray: { width: number; height: number } | null): void;
  log: Logger;
  onCode(text: string): void;
  /** Called when `status` changes. */
  onStatus?(status: QrScannerStatus): void;
  /** Sleep mode: no lens reading while asleep (src/state/sleep-gate.ts). */
  sleep: SleepGate;
}

export class QrScanner {
  private wanted = false;
  private unSleep: (() => void) | undefined;
  private unFrames: (() => void) | undefined;
  private rgba: Uint8ClampedArray | undefined;
  /** A copied frame waits for its decode. */
  private busy = false;
  private lastTakenTs = -Infinity;
  private lastDemandTs = -Infinity;
  readonly width: number;
  readonly height: number;
  /** Frames decoded. */
  frames = 0;
  /** Frames dropped because the previous one was still waiting for its decode. */
  dropped = 0;
  private current: QrScannerStatus = 'off';

  constructor(private readonly opts: QrScannerOptions) {
    this.width = Math.min(opts.maxWidth, opts.lens.width) & ~1;
    this.height = Math.max(2, Math.round((opts.lens.height * this.width) / opts.lens.width / 2) * 2);
  }

  /** Scanning is wanted (provisioning); frames are read only while the camera is awake. */
  get running(): boolean {
    return this.wanted;
  }

  /** Listening to the tap now (false while wanted but asleep). */
  get capturing(): boolean {
    return this.unFrames !== undefined;
  }

  get status(): QrScannerStatus {
    return this.current;
  }

  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.unSleep = this.opts.sleep.onChange(() => this.apply());
    this.apply();
  }

  stop(): void {
    if (!this.wanted) return;
    this.wanted = false;
    this.unSleep?.();
    this.unSleep = undefined;
    this.apply();
  }

  /** Listens to the tap exactly when scanning is wanted and the camera is awake. */
  private apply(): void {
    const asleep = this.opts.sleep.asleep();
    const run = this.wanted && !asleep;
    if (run && !this.unFrames) {
      this.lastTakenTs = -Infinity;
      this.unFrames = this.opts.frames((f) => this.onFrame(f));
      this.askForPlane(-Infinity);
      this.opts.log.info({ width: this.width, height: this.height, fps: this.opts.fps }, 'QR provisioning scanner started (wide lens tap)');
    } else if (!run && this.unFrames) {
      this.unFrames();
      this.unFrames = undefined;
      this.opts.log.info({ frames: this.frames, dropped: this.dropped, asleep }, 'QR provisioning scanner stopped');
    } else if (this.wanted && asleep) {
      this.opts.log.info('QR provisioning scanner waits: the camera is in sleep mode');
    }
    // Kept through sleep (capture runs nothing while asleep whatever is demanded), so the lens
    // wakes straight at the size wanted; withdrawn once scanning is no longer wanted.
    if (!this.wanted) this.opts.demand(null);
    this.setStatus(!this.wanted ? 'off' : run ? 'scanning' : 'asleep');
  }

  private setStatus(s: QrScannerStatus): void {
    if (s === this.current) return;
    this.current = s;
    this.opts.onStatus?.(s);
  }

  private askForPlane(ts: number): void {
    this.lastDemandTs = ts;
    this.opts.demand({ width: this.width, height: this.height });
  }

  private onFrame(f: TapFrame): void {
    if (f.lens !== this.opts.lensName || !this.unFrames || this.opts.sleep.asleep()) return;
    // A smaller plane than asked for: capture has not applied the demand yet, or it restarted
    // and forgot it. Try this frame anyway (a code held close may be read) and ask again.
    if (f.gray.width < this.width && f.ts - this.lastDemandTs >= REDEMAND_MS) this.askForPlane(f.ts);
    if (f.ts - this.lastTakenTs < 1000 / this.opts.fps) return;
    if (this.busy) {
      this.dropped++;
      return;
    }
    this.lastTakenTs = f.ts;
    // The plane is valid only during this handler: copy it now, decode later.
    const { width, height } = f.gray;
    const rgba = this.toRgba(f.gray);
    this.busy = true;
    setImmediate(() => {
      this.busy = false;
      // Asleep or stopped meanwhile: the copy is dropped unread.
      if (!this.unFrames || this.opts.sleep.asleep()) return;
      this.frames++;
      const code = jsQR(rgba, width, height, { inversionAttempts: 'attemptBoth' });
      if (code?.data) this.opts.onCode(code.data);
    });
  }

  /** R = G = B = the luma, A = 255, into a buffer of the scanner's own (reused while the size stays). */
  private toRgba(gray: TapPlane): Uint8ClampedArray {
    const n = gray.width * gray.height;
    if (this.rgba?.length !== n * 4) this.rgba = new Uint8ClampedArray(n * 4);
    const out = this.rgba;
    const src = gray.data;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const y = src[i]!;
      out[j] = y;
      out[j + 1] = y;
      out[j + 2] = y;
      out[j + 3] = 255;
    }
    return out;
  }
}
