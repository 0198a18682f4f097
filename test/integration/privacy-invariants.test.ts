import { copyFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Timeline } from '../../drivers/timeline.js';
import { alarmService } from '../../src/alarm/service.js';
import { captureServices } from '../../src/services.js';
import { call, type Reply } from '../../src/cli/client.js';
import { cloudService } from '../../src/cloud/service.js';
import { controlServer } from '../../src/control/server.js';
import type { Clock } from '../../src/core/clock.js';
import { indicatorService } from '../../src/indicator/service.js';
import { AUDIO_EVENT, privacyService } from '../../src/privacy/service.js';
import { defaultServices } from '../../src/services.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { ServiceFactory } from '../../src/supervisor/service.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { pause, PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';
import { mountCard, unmountCard } from '../unit/capture/card-fixture.js';
import { processesMentioning, removeTestDirs, smallBoard, smallClip, testDir } from '../unit/capture/media-fixture.js';
import { freePort, Receiver } from '../unit/capture/receiver-fixture.js';
import { CloudClient, ManualClock } from './cloud-helpers.js';
import { confirmed } from '../harness/confirm.js';

/**
 * The privacy invariants (DESIGN.md "Trust model"), each attacked from the cloud (MQTT commands
 * and config/desired through a real Mosquitto) and locally (the control socket, as camctl):
 *
 *  1. someone watches live ⇒ the LED is solid blue (no led.test, no indicator.enabled=false);
 *  2. sleep ⇒ no capture child, no frame, no recording (every command that could capture);
 *  3. audio recording is off unless the owner turned it on, which shows in the state and raises
 *     an event, and the microphone really is (not) in the recordings;
 *  4. the siren, the strobes and the spotlight switched by hand have a bounded on-time.
 *
 * Everything is real except the GPIO/I2C hardware: the LED and deterrent pins are read back from
 * the sim board's timeline.
 */
vi.setConfig(PROCESS_TIMEOUTS);

const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;

let broker: Broker;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker.dispose();
});

interface Rig {
  b: BootedSim;
  dir: string;
  /** This boot's own copy of the footage both lenses read: any process naming it reads a lens. */
  footage: string;
  microphone: string;
  cloud: CloudClient;
  events: CameraEvent[];
  tl: Timeline;
  /** A command from the cloud (MQTT 5 request/response through the broker). */
  remote(name: string, args?: Record<string, unknown>): Promise<Reply>;
  /** A command from the local shell (the control socket, as camctl sends it). */
  local(name: string, args?: Record<string, unknown>): Promise<Reply>;
  /** A config/desired merge patch from the cloud; resolves with its outcome from config/reported. */
  desired(patch: Record<string, unknown>): Promise<Record<string, unknown>>;
}

let rig: Rig | undefined;
const mounts: string[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.kill();
  await rig?.cloud.close();
  await rig?.b.dispose();
  rig = undefined;
  for (const m of mounts.splice(0)) unmountCard(m);
  removeTestDirs();
});

let desiredSeq = 0;

async function boot(opts: { services: ServiceFactory[]; config?: Record<string, unknown>; clock?: Clock; card?: boolean }): Promise<Rig> {
  const dir = testDir({ cloud: { url: broker.url, allowPlaintext: true }, ...opts.config });
  const footage = join(dir, 'lens-footage.mp4');
  copyFileSync(smallClip(), footage);
  const board = smallBoard(dir, (b) => ({
    ...b,
    video: { wide: { ...b.video.wide, source: { kind: 'file', path: footage, loop: true } }, ptz: { ...b.video.ptz, source: { kind: 'file', path: footage, loop: true } } },
  }));
  if (opts.card) {
    mountCard(join(dir, 'card'), '40m');
    mounts.push(join(dir, 'card'));
  }
  const b = await bootSim({ dir, board, services: opts.services, ...(opts.clock && { clock: opts.clock }) });
  const events: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  await waitUntil(() => b.sup.state.get().cloud?.connected, 'the cloud link');
  const cloud = await CloudClient.connect(broker.url);
  await cloud.subscribe(`${BASE}/#`);
  const r: Rig = {
    b,
    dir,
    footage,
    microphone: join(dir, 'microphone.wav'),
    cloud,
    events,
    tl: b.sup.hardware.timeline!,
    remote: async (name, args = {}) => (await cloud.request(BASE, name, args)) as unknown as Reply,
    local: (name, args = {}) => call(b.sup.paths.socket, name, args),
    desired: async (patch) => {
      const id = `d-${++desiredSeq}`;
      await cloud.publish(`${BASE}/config/desired`, JSON.stringify({ ...patch, $requestId: id }));
      const rep = await waitUntil(
        () => cloud.json<{ lastDesired: { requestId?: string } | null }>(`${BASE}/config/reported`).find((m) => m.lastDesired?.requestId === id),
        `config/reported for ${id}`,
      );
      return rep.lastDesired as Record<string, unknown>;
    },
  };
  rig = r;
  if (opts.card) {
    expect(await confirmed((cmd, args) => r.local(cmd, args), 'storage.initialise')).toMatchObject({ ok: true, result: { status: 'in-use' } });
  }
  return r;
}

const capturing = (r: Rig): boolean => ['wide', 'ptz'].every((l) => r.b.sup.state.get().capture?.[l as 'wide']?.status === 'running');

function ffprobeStreams(file: string): string[] {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'json', file]).toString()) as { streams: { codec_type: string }[] };
  return out.streams.map((s) => s.codec_type).sort();
}

/** Every file under `dir` (recursively) with its mtime. */
function filesUnder(dir: string): { path: string; mtimeMs: number }[] {
  if (!existsSync(dir)) return [];
  const out: { path: string; mtimeMs: number }[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push({ path: p, mtimeMs: statSync(p).mtimeMs });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
describe('1. someone watches live ⇒ the LED is solid blue', () => {
  it('a real live view: led.test and indicator.enabled=false from the cloud and from the shell cannot hide the solid blue', async () => {
    const r = await boot({ services: [controlServer, coreCommands, cloudService, indicatorService, ...captureServices] });
    await waitUntil(() => capturing(r), 'both lenses capturing');
    const port = await freePort('tcp');
    const rx = new Receiver(`rtmp://127.0.0.1:${port}/live/viewer-key`, join(r.dir, 'rx.ts'));
    receivers.push(rx);
    await pause(300);
    const live = await r.remote('live.start', { lenses: ['wide'], url: `rtmp://127.0.0.1:${port}/live/viewer-key`, audio: false });
    expect(live).toMatchObject({ ok: true });
    expect(r.b.sup.state.get().liveViewers).toBe(1);
    await waitUntil(() => r.b.sup.state.get().led?.state === 'live-view', 'solid blue');
    const watchedFrom = Date.now();

    // The cloud tries to hide the sign: every LED test is refused, with the rule.
    for (const args of [{ color: 'off', seconds: 300 }, { color: 'red', mode: 'fast' }, { color: 'blue', mode: 'slow', seconds: 1 }, { color: 'blue', mode: 'solid' }]) {
      const res = await r.remote('led.test', args);
      expect(res, JSON.stringify(args)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect((res as { error: { message: string } }).error.message).toMatch(/someone watches live.*nothing may hide it/);
    }
    // …and so does the local shell.
    expect(await r.local('led.test', { color: 'off', seconds: 300 })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // The owner's switch is accepted from both (it darkens the status LED, not this sign).
    expect(await r.local('config.set', { patch: { indicator: { enabled: false } } })).toMatchObject({ ok: true, result: { changed: ['indicator.enabled'] } });
    expect(await r.desired({ indicator: { enabled: true } })).toMatchObject({ result: 'accepted' });
    expect(await r.desired({ indicator: { enabled: false } })).toMatchObject({ result: 'accepted', changed: ['indicator.enabled'] });
    expect(r.b.sup.config.get().indicator.enabled).toBe(false);
    // Let a few LED periods pass on the real pins.
    await pause(1500);
    const now = Date.now();
    expect(r.tl.levelAt('ledBlue', now)).toBe(1);
    expect(r.tl.levelAt('ledRed', now)).toBe(0);
    // Not one flicker since the viewer arrived: blue never fell, red never rose.
    expect(r.tl.edges('ledBlue', watchedFrom, now)).toEqual([]);
    expect(r.tl.edges('ledRed', watchedFrom, now).filter((e) => e.value === 1)).toEqual([]);
    expect(r.b.sup.state.get().led).toMatchObject({ state: 'live-view', color: 'blue', mode: 'solid' });
    // Each refusal is an event the owner sees.
    const refused = r.events.filter((e) => e.kind === 'security' && e.type === 'request.forbidden' && e.data?.command === 'led.test');
    expect(refused.map((e) => e.data?.source)).toEqual(['cloud', 'cloud', 'cloud', 'cloud', 'local']);

    // The viewer leaves: now the owner's switch applies (LED dark), and LED tests work again.
    await rx.kill();
    await waitUntil(() => r.b.sup.state.get().liveViewers === 0, 'the live view to end', 20_000);
    await waitUntil(() => r.b.sup.state.get().led?.state === 'off', 'the LED to go dark (indicator disabled)');
    expect(r.b.sup.state.get().led?.reason).toBe('indicator disabled in settings');
    expect(await r.remote('led.test', { color: 'red', mode: 'solid', seconds: 5 })).toMatchObject({ ok: true });
    await waitUntil(() => r.tl.levelAt('ledRed', Date.now()) === 1, 'the LED test on the pin');
  });

  // Skipped: hangs since the harness waits (test/harness/wait.ts) went to real timers under fake
  // timers; its bound is also proved by security-attacks.test.ts and test/unit/indicator. To fix next.
  it('led.test is bounded and does not stack; a live view that begins ends a running test at once', async () => {
    const clock = new ManualClock();
    const r = await boot({ services: [controlServer, coreCommands, cloudService, indicatorService], clock });
    // The manual clock stood still during boot (solid red at this very instant): move on first.
    await clock.advance(1000);
    const t0 = clock.now();
    expect(await r.remote('led.test', { color: 'red', mode: 'solid', seconds: 10 })).toMatchObject({ ok: true, result: { until: t0 + 10_000, replaced: false } });
    await clock.advance(5000);
    // Repeated calls replace the running test: its end is the last call's, never a sum.
    const timers = clock.pending();
    for (let i = 0; i < 20; i++) {
      const res = await (i % 2 ? r.local : r.remote)('led.test', { color: 'red', mode: 'solid', seconds: 10 });
      expect(res).toMatchObject({ ok: true, result: { until: t0 + 15_000, replaced: true } });
    }
    expect(clock.pending()).toBe(timers);
    expect(r.b.sup.state.get().led).toMatchObject({ state: 'test', override: true, testUntil: t0 + 15_000 });
    await clock.advance(9999);
    expect(r.tl.levelAt('ledRed', clock.now())).toBe(1);
    await clock.advance(1);
    // Back to the state (working, slow blue) exactly at the end.
    expect(r.tl.edges('ledRed', t0, clock.now())).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 15_000, value: 0 },
    ]);
    expect(r.b.sup.state.get().led).toMatchObject({ state: 'working' });
    // Bounded: 1..300 s, from either side.
    expect(await r.remote('led.test', { color: 'off', seconds: 301 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'seconds' } });
    expect(await r.local('led.test', { color: 'off', seconds: 0 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'seconds' } });

    // A test running when a viewer arrives: solid blue at once, and the test does not come back.
    expect(await r.remote('led.test', { color: 'off', seconds: 300 })).toMatchObject({ ok: true });
    await clock.advance(1000);
    const t1 = clock.now();
    expect(r.tl.levelAt('ledBlue', t1)).toBe(0);
    r.b.sup.state.set('liveViewers', 1);
    expect(r.tl.levelAt('ledBlue', clock.now())).toBe(1);
    expect(r.b.sup.state.get().led).toEqual({ state: 'live-view', color: 'blue', mode: 'solid', reason: '1 live viewer(s)' });
    await clock.advance(2000);
    r.b.sup.state.set('liveViewers', 0);
    expect(r.b.sup.state.get().led).toMatchObject({ state: 'working', color: 'blue', mode: 'slow' });
  });
});

// ---------------------------------------------------------------------------------------------
describe('2. sleep ⇒ no capture child, no frame, no recording', () => {
  it('every command that could capture, from the cloud and from the shell, while provisioning too', async () => {
    const r = await boot({ services: defaultServices, card: true, config: { recording: { mode: 'continuous' } } });
    const { b } = r;
    const frames: number[] = [];
    /** Wide frames with a gray plane larger than the configured tap: the QR scanner's demand at work. */
    const qrFrames: number[] = [];
    b.sup.bus.on({ name: 'test' }, 'capture.frame', (f) => {
      frames.push(f.ts);
      if (f.lens === 'wide' && f.gray.width > b.sup.config.get().capture.tap.width) qrFrames.push(f.ts);
    });
    /** Processes reading this boot's lenses or its microphone (capture, 360° shots, live; the QR scanner reads capture's tap). */
    const readers = (): number[] => [...processesMentioning(r.footage), ...processesMentioning(r.microphone)];
    const LENS_CHILDREN = /^(capture\.|view360)/;
    const runningLensChildren = () => Object.entries(b.sup.state.get().children).filter(([n, c]) => LENS_CHILDREN.test(n) && (c.status === 'running' || c.status === 'starting'));

    // Awake, and with the cable pulled (no Wi-Fi saved → provisioning): both lenses capture, the
    // QR scanner reads the wide lens's tap frames, frames flow. The probes see them: they can fail.
    await waitUntil(() => capturing(r), 'both lenses capturing');
    expect(await r.local('sim.link', { iface: 'eth0', carrier: false })).toMatchObject({ ok: true });
    await waitUntil(() => b.sup.state.get().network.phase === 'provisioning' && b.sup.state.get().network.qrScanner === 'scanning', 'provisioning with the QR scanner');
    await waitUntil(() => readers().length >= 2 && frames.length > 0 && qrFrames.length > 0, 'two lens readers, frames, and wide frames at the QR scanner\'s size');
    await waitUntil(() => filesUnder(join(r.dir, 'card')).some((f) => f.path.endsWith('.ts')), 'segments on the card');
    // A 360° sweep is under way (its first shot taken) when sleep is asked for: it takes no more.
    const sweep = r.local('view360', { shots: 6 });
    await waitUntil(() => filesUnder(join(r.dir, 'run')).some((f) => /view360-[^/]+\/shot-0\.jpg$/.test(f.path)), 'the first 360° shot');

    const askedAt = Date.now();
    expect(await r.remote('sleep.set', { on: true })).toMatchObject({ ok: true, result: { sleeping: true, capture: [{ lens: 'wide', pid: null }, { lens: 'ptz', pid: null }] } });
    const repliedAt = Date.now();
    // The reply comes once capture has stopped; the QR scanner follows the same switch.
    await waitUntil(() => readers().length === 0 && runningLensChildren().length === 0, 'no lens reader left');
    const clearAt = Date.now();
    const asleepAt = Date.now();
    const framesAsleep = frames.length;
    expect(await sweep).toMatchObject({ ok: false });
    expect(b.sup.state.get().sleeping).toBe(true);
    expect(b.sup.state.get().network.phase).toBe('provisioning');
    // The QR scanner is still wanted (provisioning) but waits for the camera to wake.
    expect(b.sup.state.get().network.qrScanner).toBe('asleep');
    expect(readdirSync(join(r.dir, 'run')).filter((f) => f.startsWith('snap-'))).toEqual([]);

    // From here on, sample the process table and the children all the time.
    const seen = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const pid of readers()) seen.add(`pid ${pid}`);
        for (const [n, c] of runningLensChildren()) seen.add(`child ${n} ${c.status}`);
        await pause(20);
      }
    })();

    let tried = 0;
    const both = async (name: string, args: Record<string, unknown>): Promise<Reply[]> => {
      tried += 2;
      return [await r.remote(name, args), await r.local(name, args)];
    };
    const refusedAsleep = async (name: string, args: Record<string, unknown>): Promise<void> => {
      for (const res of await both(name, args)) expect(res, `${name} ${JSON.stringify(args)}`).toMatchObject({ ok: false, error: { code: 'unavailable', message: expect.stringMatching(/sleep mode/) } });
    };
    await refusedAsleep('snapshot', { lens: 'wide' });
    await refusedAsleep('snapshot', { lens: 'ptz', inline: true });
    await refusedAsleep('record.start', { lens: 'wide' });
    await refusedAsleep('live.start', { lenses: ['wide', 'ptz'], url: 'rtmp://127.0.0.1:1935/live/k' });
    await refusedAsleep('view360', { shots: 3 });
    // Commands that move the lenses or change what capture would do: accepted or not, no capture.
    const anyOutcome: [string, Record<string, unknown>][] = [
      ['wide.pan', { deg: 90 }],
      ['ptz.move', { direction: 'left', seconds: 0.5 }],
      ['ptz.goto', { pan: 45, tilt: 10 }],
      ['ptz.look', { x: 0.3, y: 0.6 }],
      ['ptz.home', {}],
      ['ptz.preset.save', { name: 'door' }],
      ['ptz.preset.goto', { name: 'door' }],
      ['ptz.patrol', { on: true, follow: true }],
      ['detection.set', { algorithm: 'change', enabled: true, sensitivity: 90 }],
      ['detection.set', { algorithm: 'vehicle', enabled: true }],
      ['quality.set', { lens: 'wide', profile: 'sd' }],
      ['config.set', { patch: { capture: { tap: { fps: 10, width: 80, height: 45 } } } }],
      ['config.set', { patch: { lenses: { ptz: { orientation: 'flip', quality: 'sd' } } } }],
      ['config.set', { patch: { recording: { audio: true, mode: 'continuous', segmentSeconds: 3 } } }],
      ['config.set', { patch: { capture: { sleep: true } } }],
      ['sleep.set', { on: true }],
    ];
    for (const [name, args] of anyOutcome) for (const res of await both(name, args)) expect(res, `${name} ${JSON.stringify(args)}`).toHaveProperty('ok');
    expect(await r.desired({ capture: { tap: { rgbWidth: 0 } }, lenses: { wide: { orientation: 'mirror' } }, detection: { human: { sensitivity: 80 } } })).toMatchObject({ result: 'accepted' });
    // The network leaves provisioning and comes back to it: the scanner is wanted again, still asleep.
    expect(await r.local('sim.link', { iface: 'eth0', carrier: true })).toMatchObject({ ok: true });
    await waitUntil(() => b.sup.state.get().network.phase !== 'provisioning', 'leaving provisioning');
    expect(await r.local('sim.link', { iface: 'eth0', carrier: false })).toMatchObject({ ok: true });
    await waitUntil(() => b.sup.state.get().network.phase === 'provisioning', 'provisioning again');
    // Two segment lengths of observation after the last attempt.
    await pause(2 * 3000);
    sampling = false;
    await sampler;

    console.log(`sleep: reply after ${repliedAt - askedAt} ms, last lens reader gone ${clearAt - askedAt} ms after asking; ${tried} commands tried asleep; lens readers seen: ${seen.size}`);
    expect([...seen]).toEqual([]);
    expect(frames.length).toBe(framesAsleep);
    expect(b.sup.state.get().sleeping).toBe(true);
    expect(b.sup.state.get().capture).toMatchObject({ wide: { status: 'sleeping' }, ptz: { status: 'sleeping' } });
    // Nothing written to the card since capture stopped, and nothing recorded from after it.
    expect(filesUnder(join(r.dir, 'card')).filter((f) => f.path.endsWith('.ts') && f.mtimeMs > asleepAt)).toEqual([]);
    for (const lens of ['wide', 'ptz']) {
      const list = (await r.local('recordings.list', { lens })) as { ok: true; result: { recordings: { start: number }[] } };
      expect(list.result.recordings.filter((x) => x.start >= asleepAt)).toEqual([]);
    }
    expect(readdirSync(join(r.dir, 'run')).filter((f) => f.startsWith('snap-') || f.startsWith('view360-'))).toEqual([]);

    // Waking brings every lens reader back (the QR scanner too: still provisioning).
    expect(await r.remote('sleep.set', { on: false })).toMatchObject({ ok: true, result: { sleeping: false } });
    await waitUntil(() => capturing(r) && b.sup.state.get().network.qrScanner === 'scanning', 'capture and the QR scanner back');
    await waitUntil(() => frames.length > framesAsleep, 'frames again');
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------
describe('3. audio recording: off by default, an explicit setting that shows in the state and raises an event', () => {
  it('on and off from the cloud and from the shell: state, events, and the microphone in the recordings or not', async () => {
    const r = await boot({ services: [controlServer, coreCommands, privacyService, cloudService, ...captureServices], card: true, config: { recording: { mode: 'continuous' } } });
    const { b } = r;
    const audioEvents = () => r.events.filter((e) => e.type === AUDIO_EVENT);
    expect(b.sup.config.get().recording.audio).toBe(false);
    expect(b.sup.state.get().privacy).toMatchObject({ audioRecording: false });
    await waitUntil(() => capturing(r), 'capture');
    const list = async (): Promise<{ file: string; start: number; partial?: boolean }[]> =>
      ((await r.local('recordings.list', { lens: 'wide' })) as { result: { recordings: { file: string; start: number; partial?: boolean }[] } }).result.recordings;
    const recordedAfter = (t: number) => waitUntil(async () => (await list()).find((x) => x.start > t && !x.partial), `a recording started after ${t}`, 20_000);
    const card = join(r.dir, 'card');

    // Default: video only, and no capture ffmpeg has the microphone open.
    expect(ffprobeStreams(join(card, (await recordedAfter(0)).file))).toEqual(['video']);
    expect(processesMentioning(r.microphone)).toEqual([]);

    // The cloud turns it on (config/desired): the state shows it, an event says so, and the
    // recordings from then on carry the microphone.
    const onAt = Date.now();
    expect(await r.desired({ recording: { audio: true } })).toMatchObject({ result: 'accepted', changed: ['recording.audio'] });
    expect(b.sup.state.get().privacy).toMatchObject({ audioRecording: true, changedBy: 'cloud' });
    expect(b.sup.state.get().privacy!.since).toBeGreaterThanOrEqual(onAt);
    expect(audioEvents()).toEqual([expect.objectContaining({ kind: 'privacy', data: { on: true, source: 'cloud' } })]);
    // The event reaches the cloud through the outbox, and the published state carries the slice.
    await waitUntil(() => r.cloud.json<CameraEvent>(`${BASE}/events`).find((e) => e.type === AUDIO_EVENT), 'the event on MQTT');
    await waitUntil(() => (r.cloud.last<{ privacy?: { audioRecording: boolean } }>(`${BASE}/state`)?.privacy?.audioRecording === true), 'state.privacy on MQTT');
    await waitUntil(() => processesMentioning(r.microphone).length > 0, 'the microphone in the capture ffmpeg');
    // Segments begun after the restarted ffmpeg was seen are the new run's.
    const micOpenAt = Date.now();
    expect(ffprobeStreams(join(card, (await recordedAfter(micOpenAt)).file))).toEqual(['audio', 'video']);

    // The shell turns it off (camctl config set): the same, the other way.
    const offAt = Date.now();
    expect(await r.local('config.set', { patch: { recording: { audio: false } } })).toMatchObject({ ok: true, result: { changed: ['recording.audio'] } });
    expect(b.sup.state.get().privacy).toMatchObject({ audioRecording: false, changedBy: 'config.set (local)' });
    expect(audioEvents().map((e) => e.data)).toEqual([
      { on: true, source: 'cloud' },
      { on: false, source: 'config.set (local)' },
    ]);
    await waitUntil(() => processesMentioning(r.microphone).length === 0, 'the microphone released');
    const micClosedAt = Date.now();
    expect(micClosedAt).toBeGreaterThanOrEqual(offAt);
    expect(ffprobeStreams(join(card, (await recordedAfter(micClosedAt)).file))).toEqual(['video']);
    // A patch that leaves it as it is raises nothing.
    expect(await r.desired({ recording: { audio: false }, device: { name: 'Porch' } })).toMatchObject({ result: 'accepted' });
    expect(audioEvents()).toHaveLength(2);
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------
describe('4. the siren, strobes and spotlight switched by hand have a bounded on-time', () => {
  const bootAlarm = async (clock: ManualClock) =>
    boot({ services: [controlServer, coreCommands, cloudService, alarmService], clock, config: { alarm: { timeoutSeconds: 20 }, lights: { spotlightMaxSeconds: 30 } } });

  it('output.set siren/strobes from the cloud and the shell: off at alarm.timeoutSeconds, repeated "on" does not re-arm', async () => {
    const clock = new ManualClock();
    const r = await bootAlarm(clock);
    const t0 = clock.now();
    expect(await r.remote('output.set', { output: 'siren', on: true })).toMatchObject({ ok: true, result: { output: 'siren', on: true, offAt: t0 + 20_000 } });
    // A cloud loop and the shell keep asking: one activation, capped from its start.
    for (let i = 1; i < 20; i++) {
      await clock.advance(1000);
      const res = await (i % 3 ? r.remote : r.local)('output.set', { output: 'siren', on: true });
      expect(res).toMatchObject({ ok: true, result: { offAt: t0 + 20_000 } });
    }
    expect(r.b.sup.state.get().alarm).toMatchObject({ siren: true, active: false, offAt: { siren: t0 + 20_000 } });
    await clock.advance(1000);
    expect(r.tl.edges('siren', t0, clock.now() + 1)).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 20_000, value: 0 },
    ]);
    expect(r.b.sup.state.get().alarm).toMatchObject({ siren: false, offAt: { siren: null } });
    await clock.advance(60_000);
    expect(r.tl.edges('siren', t0 + 20_001, clock.now())).toEqual([]);

    // The strobe lines, one from each side: steady on, both off at the bound.
    const t1 = clock.now();
    expect(await r.remote('output.set', { output: 'strobeRed', on: true })).toMatchObject({ ok: true, result: { offAt: t1 + 20_000, outputs: { strobeRed: true } } });
    await clock.advance(5000);
    expect(await r.local('output.set', { output: 'strobeBlue', on: true })).toMatchObject({ ok: true, result: { offAt: t1 + 25_000 } });
    await clock.advance(30_000);
    expect(r.tl.edges('strobeRed', t1, clock.now())).toEqual([
      { t: t1, value: 1 },
      { t: t1 + 20_000, value: 0 },
    ]);
    expect(r.tl.edges('strobeBlue', t1, clock.now())).toEqual([
      { t: t1 + 5000, value: 1 },
      { t: t1 + 25_000, value: 0 },
    ]);
    // Off by hand is off now; alarm.stop silences a hand-switched siren too.
    const t2 = clock.now();
    await r.remote('output.set', { output: 'siren', on: true });
    await clock.advance(2000);
    expect(await r.local('alarm.stop')).toMatchObject({ ok: true, result: { siren: false } });
    expect(r.tl.edges('siren', t2, clock.now())).toEqual([
      { t: t2, value: 1 },
      { t: t2 + 2000, value: 0 },
    ]);
    // Sleep: nothing may be switched on, from either side.
    r.b.sup.state.set('sleeping', true);
    for (const res of [await r.remote('output.set', { output: 'siren', on: true }), await r.local('output.set', { output: 'strobeRed', on: true })]) {
      expect(res).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    }
    expect(r.tl.levelAt('siren', clock.now())).toBe(0);
  });

  it('the spotlight toggle (spotlight.set, output.set spotlight): off at lights.spotlightMaxSeconds; a lower bound applies to a running light', async () => {
    const clock = new ManualClock();
    const r = await bootAlarm(clock);
    const pwm = () => r.b.sup.hardware.sim!.pwm()!.dutyCycle(0);
    const t0 = clock.now();
    expect(await r.remote('spotlight.set', { on: true, brightness: 40 })).toMatchObject({ ok: true, result: { spotlight: true, offAt: { spotlight: t0 + 30_000 } } });
    await clock.advance(10_000);
    // Tapping "on" again (a brightness change, or a loop) keeps the activation's end.
    expect(await r.local('output.set', { output: 'spotlight', on: true, brightness: 70 })).toMatchObject({ ok: true, result: { offAt: t0 + 30_000 } });
    expect(pwm()).toBeCloseTo(0.7, 2);
    await clock.advance(19_999);
    expect(r.tl.levelAt('spotlightEnable', clock.now())).toBe(1);
    await clock.advance(1);
    await waitUntil(() => r.tl.levelAt('spotlightEnable', clock.now()) === 0, 'the spotlight off at the bound');
    expect(r.tl.edges('spotlightEnable', t0, clock.now())).toEqual([
      { t: t0, value: 1 },
      { t: t0 + 30_000, value: 0 },
    ]);
    expect(pwm()).toBe(0);

    // A running light and a lower bound from the cloud: off as soon as it is past the new bound.
    await clock.advance(1000);
    const t1 = clock.now();
    expect(await r.remote('output.set', { output: 'spotlight', on: true })).toMatchObject({ ok: true, result: { offAt: t1 + 30_000 } });
    await clock.advance(15_000);
    expect(await r.desired({ lights: { spotlightMaxSeconds: 10 } })).toMatchObject({ result: 'accepted' });
    await clock.advance(1);
    await waitUntil(() => r.tl.levelAt('spotlightEnable', clock.now()) === 0, 'the spotlight off under the lower bound');
    expect(r.tl.edges('spotlightEnable', t1, clock.now())).toEqual([
      { t: t1, value: 1 },
      { t: t1 + 15_000, value: 0 },
    ]);
  });

  // Skipped for the same hang as the led.test case above; the cap is unit-tested in test/unit/alarm/holds.test.ts.
  it('alarm.start restarted in a loop still ends 900 s after it began', async () => {
    const clock = new ManualClock();
    const r = await bootAlarm(clock);
    const t0 = clock.now();
    for (let t = 0; t < 1000; t += 50) {
      const res = await (t % 100 ? r.local : r.remote)('alarm.start', { seconds: 60 });
      if (t < 900) expect(res).toMatchObject({ ok: true, result: { until: Math.min(t0 + t * 1000 + 60_000, t0 + 900_000) } });
      await clock.advance(50_000);
      if (t + 50 >= 900 && t + 50 < 950) {
        // The activation reached its cap: the siren went off at t0 + 900 s, the loop's next call starts a new one.
        expect(r.tl.levelAt('siren', t0 + 900_000)).toBe(0);
        expect(r.tl.edges('siren', t0, t0 + 900_000)).toEqual([
          { t: t0, value: 1 },
          { t: t0 + 900_000, value: 0 },
        ]);
      }
    }
  });
});
