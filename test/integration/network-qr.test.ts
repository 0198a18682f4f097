import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import QRCode from 'qrcode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bootSim, MEDIA, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { NetworkService } from '../../src/network/service.js';
import { captureServices } from '../../src/services.js';
import { formatWifiQr } from '../../src/network/wifi-qr.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { Context } from '../../src/supervisor/service.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { processesMentioning } from '../unit/capture/media-fixture.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * Provisioning through the wide lens, end to end: a Wi-Fi QR code (as the app shows it on the
 * phone) is overlaid on the real sim footage with ffmpeg, the sim board's wide source points at
 * that video, and the daemon's scanner (jsQR on the capture tap's wide frames, with the larger
 * gray plane it asks for while scanning) has to read it off the frames. No ffmpeg of its own.
 */
const run = promisify(execFile);
let work: string;
const videos: Record<string, string> = {};

async function qrVideo(name: string, text: string): Promise<string> {
  const png = join(work, `${name}.png`);
  await QRCode.toFile(png, text, { width: 240, margin: 4, errorCorrectionLevel: 'M' });
  const out = join(work, `${name}.mp4`);
  // The phone appears after 1 s of ordinary footage and is held in the middle of the image.
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-t', '4', '-i', join(MEDIA, 'one-by-one-person-detection.mp4'),
    '-loop', '1', '-i', png,
    '-filter_complex', "[0:v][1:v]overlay=(W-w)/2:(H-h)/2:enable='gte(t,1)':shortest=1",
    '-t', '4', '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', out,
  ]);
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'camd-qr-'));
  videos.good = await qrVideo('good', formatWifiQr({ ssid: 'Home;Net', psk: 'correct horse', bindingToken: 'bind-token-qr-0001' }));
  videos.wrong = await qrVideo('wrong', formatWifiQr({ ssid: 'Home;Net', psk: 'wrong horse!', bindingToken: 'bind-token-qr-0002' }));
  videos.open = await qrVideo('open', 'WIFI:T:nopass;S:Cafe;;');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
});

async function boot(video: string): Promise<{ b: BootedSim; svc: NetworkService; dir: string; events: CameraEvent[] }> {
  const dir = mkdtempSync(join(work, 'cam-'));
  mkdirSync(join(dir, 'data'), { mode: 0o700 });
  writeFileSync(join(dir, 'data/config.json'), JSON.stringify({ cloud: { url: 'mqtts://cloud.invalid:8883' } }));
  let svc!: NetworkService;
  const network = (ctx: Context) => (svc = new NetworkService(ctx, { scanFps: 2 }));
  const b = await bootSim({
    dir,
    // In the daemon's order: the network (and so the scanner) starts before capture.
    services: [coreCommands, network, ...captureServices],
    board: (base) => ({ ...base, video: { ...base.video, wide: { ...base.video.wide, source: { kind: 'file', path: video, loop: true } } } }),
  });
  booted = b;
  const events: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  const sim = async (name: string, args: unknown) => {
    const r = await b.sup.commands.execute(name, args, { source: 'local' });
    if (!r.ok) throw new Error(r.error.message);
  };
  await sim('sim.wifi', { accessPoints: [{ ssid: 'Home;Net', psk: 'correct horse', quality: 70 }] });
  await sim('sim.link', { iface: 'eth0', carrier: false });
  return { b, svc, dir, events };
}

describe('QR provisioning through the wide lens', () => {
  it('reads the Wi-Fi QR code, saves credentials + binding token, joins and stops scanning', async () => {
    const { b, svc, dir, events } = await boot(videos.good!);
    await waitFor(() => b.sup.state.get().network.phase === 'provisioning', 5_000);
    expect(b.sup.state.get().network.qrScanner).toBe('scanning');
    await waitFor(() => b.sup.state.get().network.phase === 'online', 15_000);
    expect(b.sup.state.get().network).toMatchObject({ active: 'wifi', wifi: { ssid: 'Home;Net', connected: true } });
    const secrets = JSON.parse(readFileSync(join(dir, 'data/secrets.json'), 'utf8')) as { wifi: unknown; binding: { token: string } };
    expect(secrets.wifi).toEqual({ ssid: 'Home;Net', psk: 'correct horse' });
    expect(secrets.binding.token).toBe('bind-token-qr-0001');
    expect(events.filter((e) => e.type === 'network.provisioned')).toEqual([expect.objectContaining({ kind: 'system', data: { ssid: 'Home;Net', via: 'qr' } })]);
    // It really read frames, and stopped once online.
    expect(svc.qrStats().frames).toBeGreaterThan(1);
    await waitFor(() => !svc.qrStats().running && b.sup.state.get().network.qrScanner === undefined, 5_000);
    // Its demand withdrawn, the wide tap is back at the configured size.
    await waitFor(() => b.sup.state.get().capture?.wide?.tap.gray.width === 352, 10_000);
  });

  it('reads the tap, with no lens reader of its own: one ffmpeg reads the wide lens, at the larger gray plane asked for', async () => {
    const { b, svc } = await boot(videos.wrong!);
    await waitFor(() => svc.qrStats().running, 5_000);
    // The sim wide lens is 768x432: the scanner's 960 is capped at the lens's own width.
    await waitFor(() => b.sup.state.get().capture?.wide?.tap.gray.width === 768, 10_000);
    expect(b.sup.state.get().capture!.wide!.tap.gray).toEqual({ width: 768, height: 432 });
    // The detectors' RGB plane is untouched.
    expect(b.sup.state.get().capture!.wide!.tap.rgb).toEqual({ width: 640, height: 360 });
    expect(processesMentioning(videos.wrong!)).toHaveLength(1);
    expect(Object.keys(b.sup.state.get().children).filter((n) => !n.startsWith('capture.'))).toEqual([]);
  });

  it('a QR code with the wrong password → back to provisioning with the reason; the same code is not retried', async () => {
    const { b, svc } = await boot(videos.wrong!);
    await waitFor(() => !!b.sup.state.get().network.reason?.includes('rejected the password'), 15_000);
    expect(b.sup.state.get().network.phase).toBe('provisioning');
    expect(svc.qrStats().running).toBe(true);
    // Keep watching a few more frames of the same code: it is read once, not re-applied.
    const seen = svc.qrStats().frames;
    await waitFor(() => svc.qrStats().frames >= seen + 3, 10_000);
    const reads = b.sup.logging.ring.recent().filter((l) => l.msg === 'Wi-Fi QR code read');
    expect(reads).toHaveLength(1);
    expect(b.sup.state.get().network.phase).toBe('provisioning');
  });

  it('a QR code for an open network is refused, with the reason shown while provisioning', async () => {
    const { b } = await boot(videos.open!);
    await waitFor(() => !!b.sup.state.get().network.reason?.includes('last QR code refused'), 15_000);
    expect(b.sup.state.get().network).toMatchObject({ phase: 'provisioning', reason: 'no network and no saved Wi-Fi; last QR code refused: open networks are not supported' });
    expect(b.sup.secrets.get()).toEqual({});
  });
});
