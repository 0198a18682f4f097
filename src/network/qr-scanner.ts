import jsQRModule from 'jsqr';
import type { Options as JsQrOptions, QRCode } from 'jsqr';
import type { Logger } from 'pino';
import type { Board } from '../../board/schema.js';
import type { SleepGate } from '../privacy/sleep-gate.js';
import type { ChildRunner, ChildSpec } from '../supervisor/runner.js';

/**
 * Provisioning by QR code through the wide lens: the app shows a Wi-Fi QR code on the phone's
 * screen, the owner holds it in front of the camera. No listener is opened for it, on any
 * interface, at any time — the only input is light.
 *
 * While it runs, one ffmpeg child (through the supervised runner: logged, restarted with
 * backoff, stall watchdog) reads the wide lens's source and writes `fps` downscaled RGBA frames
 * per second to a pipe; each complete frame is decoded with jsQR (pure JS). When frames pile up
 * faster than they are decoded, only the newest is kept: the rest are dropped and counted.
 *
 * **Sleep mode wins over provisioning**: the scanner reads the lens, so while the camera sleeps
 * (`sleep`: the owner's setting or the published flag) no scanner child runs, whatever the
 * network wants; `start()` only records that scanning is wanted, and the child starts when the
 * camera wakes (and stops the moment sleep is asked for).
 *
 * On a real board the capture pipeline may hold the V4L2 device; a board whose wide source is
 * v4l2 should give the capture service a frame tap instead — the source argv is built here in
 * one place to make that swap small.
 */
// jsqr is CommonJS with an ES-style `default` export: under NodeNext the default import is the
// module object; the function is its `default` (and the object itself at run time).
type JsQr = (data: Uint8ClampedArray, width: number, height: number, opts?: JsQrOptions) => QRCode | null;
const jsQR = (jsQRModule as unknown as { default: JsQr }).default;

export interface QrScannerOptions {
  lens: Board['video']['wide'];
  fps: number;
  /** Frames are scaled down to at most this width: enough for a phone held 0.3-1 m away. */
  maxWidth: number;
  spawnChild(spec: ChildSpec): ChildRunner;
  log: Logger;
  onCode(text: string): void;
  /** Sleep mode: no lens reading while asleep (src/privacy/sleep-gate.ts). */
  sleep: SleepGate;
}

export class QrScanner {
  private runner: ChildRunner | undefined;
  private wanted = false;
  private unSleep: (() => void) | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  readonly width: number;
  readonly height: number;
  frames = 0;
  dropped = 0;

  constructor(private readonly opts: QrScannerOptions) {
    this.width = Math.min(opts.maxWidth, opts.lens.width) & ~1;
    this.height = Math.max(2, Math.round((opts.lens.height * this.width) / opts.lens.width / 2) * 2);
  }

  /** Scanning is wanted (provisioning); the child itself runs only while the camera is awake. */
  get running(): boolean {
    return this.wanted;
  }

  /** The ffmpeg child exists (false while wanted but asleep). */
  get capturing(): boolean {
    return this.runner !== undefined;
  }

  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.unSleep = this.opts.sleep.onChange(() => void this.apply());
    void this.apply();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.unSleep?.();
    this.unSleep = undefined;
    await this.apply();
  }

  /** Runs the child exactly when scanning is wanted and the camera is awake. */
  private async apply(): Promise<void> {
    const run = this.wanted && !this.opts.sleep.asleep();
    if (run && !this.runner) this.spawn();
    else if (!run && this.runner) {
      const r = this.runner;
      this.runner = undefined;
      await r.stop();
      this.opts.log.info({ frames: this.frames, dropped: this.dropped, asleep: this.opts.sleep.asleep() }, 'QR provisioning scanner stopped');
    } else if (run === false && this.wanted) {
      this.opts.log.info('QR provisioning scanner waits: the camera is in sleep mode');
    }
  }

  private spawn(): void {
    const frameBytes = this.width * this.height * 4;
    this.pending = [];
    this.pendingBytes = 0;
    this.runner = this.opts.spawnChild({
      name: 'qr-scan',
      command: 'ffmpeg',
      args: [
        '-hide_banner', '-nostdin', '-loglevel', 'error',
        ...sourceArgs(this.opts.lens.source),
        '-an', '-vf', `fps=${this.opts.fps},scale=${this.width}:${this.height}`,
        '-pix_fmt', 'rgba', '-f', 'rawvideo', 'pipe:1',
      ],
      stdout: 'pipe',
      backoff: { baseMs: 1_000, maxMs: 30_000 },
      stallTimeoutMs: Math.max(10_000, 5_000 / this.opts.fps),
      onSpawn: (child) => {
        this.pending = [];
        this.pendingBytes = 0;
        child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk, frameBytes));
      },
    });
    this.runner.start();
    this.opts.log.info({ width: this.width, height: this.height, fps: this.opts.fps }, 'QR provisioning scanner started');
  }

  private onData(chunk: Buffer, frameBytes: number): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= frameBytes) {
      const all = Buffer.concat(this.pending);
      const frame = all.subarray(0, frameBytes);
      const rest = all.subarray(frameBytes);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
      if (this.pendingBytes >= frameBytes) {
        // More than one whole frame waiting: we are behind; keep only the newest.
        this.dropped++;
        continue;
      }
      this.runner?.kick();
      this.frames++;
      this.decode(frame);
    }
  }

  private decode(frame: Buffer): void {
    const data = new Uint8ClampedArray(frame.buffer, frame.byteOffset, frame.byteLength);
    const code = jsQR(data, this.width, this.height, { inversionAttempts: 'attemptBoth' });
    if (code?.data) this.opts.onCode(code.data);
  }
}

export function sourceArgs(source: Board['video']['wide']['source']): string[] {
  switch (source.kind) {
    case 'file':
      // -re: read at the file's own pace, like a live camera; loop it like the capture does.
      return ['-re', ...(source.loop ? ['-stream_loop', '-1'] : []), '-i', source.path];
    case 'v4l2':
      return ['-f', 'v4l2', '-input_format', source.inputFormat, '-i', source.device];
    case 'rtsp':
      return ['-rtsp_transport', 'tcp', '-i', source.url];
  }
}
