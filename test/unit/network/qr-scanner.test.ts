import pino from 'pino';
import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import type { TapSettings } from '../../../src/capture/args.js';
import { FramePool, TapPairer, tapFrame } from '../../../src/capture/tap.js';
import '../../../src/capture/types.js';
import { QrScanner, type QrScannerStatus } from '../../../src/network/qr-scanner.js';
import { formatWifiQr } from '../../../src/network/wifi-qr.js';
import { EventBus } from '../../../src/state/bus.js';
import type { SleepGate } from '../../../src/state/sleep-gate.js';

/**
 * The provisioning QR reader on the capture tap: frames come out of the real TapPairer as the
 * capture service's one `capture.frame` (both planes), over the real bus; the scanner reads the
 * gray plane.
 */
const TEXT = formatWifiQr({ ssid: 'Home;Net', psk: 'correct horse', bindingToken: 'bind-token-qr-0001' });
const LENS = { width: 1920, height: 1080 };

/** A gray scene with the code drawn in the middle at `px` pixels a module (4 modules of quiet zone). */
function sceneWithCode(width: number, height: number, text: string | null, px: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = 60 + ((x * 7 + y * 13) % 50);
  if (!text) return out;
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const side = (n + 8) * px;
  const x0 = (width - side) >> 1;
  const y0 = (height - side) >> 1;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const mx = Math.floor(x / px) - 4;
      const my = Math.floor(y / px) - 4;
      const dark = mx >= 0 && my >= 0 && mx < n && my < n && qr.modules.get(my, mx);
      out[(y0 + y) * width + x0 + x] = dark ? 25 : 225;
    }
  }
  return out;
}

class Gate implements SleepGate {
  on = false;
  private readonly fns = new Set<(asleep: boolean) => void>();
  asleep(): boolean {
    return this.on;
  }
  onChange(fn: (asleep: boolean) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  set(on: boolean): void {
    this.on = on;
    for (const f of this.fns) f(on);
  }
}

function rig(fps = 1) {
  const bus = new EventBus(pino({ level: 'silent' }));
  const gate = new Gate();
  const codes: string[] = [];
  const demands: ({ width: number; height: number } | null)[] = [];
  const statuses: QrScannerStatus[] = [];
  const owner = { name: 'network' };
  const scanner = new QrScanner({
    lensName: 'wide',
    lens: LENS,
    fps,
    maxWidth: 960,
    frames: (h) => bus.on(owner, 'capture.frame', h),
    demand: (g) => void demands.push(g),
    log: pino({ level: 'silent' }),
    onCode: (t) => void codes.push(t),
    onStatus: (s) => void statuses.push(s),
    sleep: gate,
  });
  let t = 10_000;
  /** One instant of a lens through the real tap pairing, at the given gray size. */
  const frame = (gray: Uint8Array, tapGray: { width: number; height: number }, lens: 'wide' | 'ptz' = 'wide'): Buffer => {
    const tap: TapSettings = { ...tapGray, fps: 5, rgbWidth: 64, rgbHeight: 36 };
    const grayPool = new FramePool(tap.width * tap.height);
    const pairer = new TapPairer({
      rgb: true,
      now: () => (t += 1000),
      schedule: (fn) => fn(),
      deliver: (pair) => bus.emit('capture.frame', tapFrame(lens, pair, tap)),
      release: () => undefined,
    });
    const g = grayPool.acquire();
    g.set(gray);
    pairer.gray(g);
    pairer.rgb(Buffer.alloc(64 * 36 * 3));
    return g;
  };
  const turn = () => new Promise<void>((r) => setImmediate(r));
  return { scanner, gate, codes, demands, statuses, frame, turn };
}

const BIG = { width: 960, height: 540 };

describe('QR scanner on the capture tap', () => {
  it('asks for the larger gray plane and decodes a Wi-Fi QR code from a tap frame', async () => {
    const { scanner, codes, demands, statuses, frame, turn } = rig();
    scanner.start();
    expect(demands).toEqual([BIG]);
    expect(statuses).toEqual(['scanning']);
    const pooled = frame(sceneWithCode(960, 540, TEXT, 3), BIG);
    const copy = Buffer.from(pooled);
    // Decoded later, from the scanner's own copy: the handler only copies.
    expect(codes).toEqual([]);
    await turn();
    expect(codes).toEqual([TEXT]);
    expect(scanner.frames).toBe(1);
    // The tap's pooled buffer is left as it was (and not detached).
    expect(pooled.equals(copy)).toBe(true);
    expect(pooled.buffer.byteLength).toBe(960 * 540);
  });

  it('finds nothing in a frame without a code, ignores the other lens', async () => {
    const { scanner, codes, frame, turn } = rig();
    scanner.start();
    frame(sceneWithCode(960, 540, null, 3), BIG);
    frame(sceneWithCode(960, 540, TEXT, 3), BIG, 'ptz');
    await turn();
    expect(codes).toEqual([]);
    expect(scanner.frames).toBe(1);
  });

  it('decodes at most `fps` frames a second and drops a frame that comes while one waits', async () => {
    const { scanner, frame, turn } = rig(0.5);
    scanner.start();
    const img = sceneWithCode(960, 540, null, 3);
    // Frames 1 s apart, at 0.5 decodes a second, all in one turn of the event loop: the first is
    // taken; the second is too soon (rate); the third and fourth are due but the first still
    // waits for its decode: dropped, nothing queues.
    for (let i = 0; i < 4; i++) frame(img, BIG);
    await turn();
    expect(scanner.frames).toBe(1);
    expect(scanner.dropped).toBe(2);
    // Decoded: the next due frame is taken again.
    frame(img, BIG);
    await turn();
    expect(scanner.frames).toBe(2);
  });

  it('repeats its demand when frames come smaller than asked for (capture restarted), and still tries them', async () => {
    const { scanner, demands, codes, frame, turn } = rig();
    scanner.start();
    frame(sceneWithCode(352, 198, null, 1), { width: 352, height: 198 });
    await turn();
    expect(demands).toEqual([BIG, BIG]);
    expect(scanner.frames).toBe(1);
    expect(codes).toEqual([]);
  });

  it('sleep wins: no listening, no decoding while asleep; the demand is withdrawn only when scanning is no longer wanted', async () => {
    const { scanner, gate, codes, demands, statuses, frame, turn } = rig();
    gate.set(true);
    scanner.start();
    expect(scanner.running).toBe(true);
    expect(scanner.capturing).toBe(false);
    expect(statuses).toEqual(['asleep']);
    frame(sceneWithCode(960, 540, TEXT, 3), BIG);
    await turn();
    expect(codes).toEqual([]);
    expect(scanner.frames).toBe(0);

    gate.set(false);
    expect(scanner.capturing).toBe(true);
    expect(statuses).toEqual(['asleep', 'scanning']);
    // Sleep asked for between the copy and its decode: the copy is dropped unread.
    frame(sceneWithCode(960, 540, TEXT, 3), BIG);
    gate.set(true);
    await turn();
    expect(codes).toEqual([]);
    expect(scanner.frames).toBe(0);

    gate.set(false);
    scanner.stop();
    expect(demands.at(-1)).toBeNull();
    expect(statuses.at(-1)).toBe('off');
    frame(sceneWithCode(960, 540, TEXT, 3), BIG);
    await turn();
    expect(codes).toEqual([]);
  });
});
