import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Board } from '../../board/schema.js';
import { PublishedStateSchema, TelemetrySchema } from '../../src/cloud/schema.js';
import { STATE_MAX_BYTES } from '../../src/cloud/state-publisher.js';
import { defaultServices } from '../../src/services.js';
import type { CamState } from '../../src/state/store.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { pause, PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';
import { mountCard, unmountCard } from '../unit/capture/card-fixture.js';
import { smallClip, SMALL, stillClip } from '../unit/capture/media-fixture.js';
import { CloudClient, type Received } from './cloud-helpers.js';
import { confirmed } from '../harness/confirm.js';

vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The whole camera (every service, both lenses, detection, a card) against a real Mosquitto, an
 * independent subscriber on `camd/<serial>/#`: the state document's size, the split of telemetry
 * from state on real slices, and the idle traffic on a static scene. The long idle measurement
 * at the default 300 s period is test/faults/fleet-idle.test.ts.
 */
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;

let broker: Broker;
let sim: BootedSim | undefined;
let cloud: CloudClient | undefined;
let dir: string | undefined;
let card: string | undefined;

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker.dispose();
});
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
  await sim?.dispose();
  sim = undefined;
  if (card) unmountCard(card);
  card = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** The sim board with both lenses on `clip` (small, so two ffmpegs and the detector fit two busy cores). */
const boardOn = (clip: string) => (b: Board): Board => {
  const profiles = { hd: { width: SMALL.width, height: SMALL.height, fps: SMALL.fps, bitrateKbps: 300 }, sd: { width: 160, height: 90, fps: SMALL.fps, bitrateKbps: 120 } };
  const lens = { source: { kind: 'file' as const, path: clip, loop: true }, width: SMALL.width, height: SMALL.height, fps: SMALL.fps, codec: 'h264' as const, profiles, defaultProfile: 'hd' };
  return { ...b, video: { wide: lens, ptz: lens } };
};

async function bootCamera(clip: string, config: Record<string, unknown> = {}): Promise<BootedSim> {
  dir = mkdtempSync(join(tmpdir(), 'camd-cstate-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(
    join(dir, 'data', 'config.json'),
    JSON.stringify({ cloud: { url: broker.url, allowPlaintext: true }, capture: { tap: { width: 96, height: 54, fps: 5, rgbWidth: 192, rgbHeight: 108 } }, ...config }),
  );
  card = join(dir, 'card');
  mountCard(card, '64m');
  sim = await bootSim({ dir, board: boardOn(clip), services: defaultServices });
  const s = sim;
  const exec = (cmd: string, args: Record<string, unknown> = {}) => s.sup.commands.execute(cmd, args, { source: 'local' });
  expect(await confirmed(exec, 'storage.initialise')).toMatchObject({ ok: true });
  return s;
}

/** Every service running, both lenses capturing, the model loaded, the card in use, the link up. */
function settled(st: Readonly<CamState>): boolean {
  const services = Object.values(st.services);
  return (
    services.length === defaultServices.length &&
    services.every((x) => x.status === 'running') &&
    st.capture?.wide?.status === 'running' &&
    st.capture?.ptz?.status === 'running' &&
    st.detection?.model.status === 'ready' &&
    st.storage?.status === 'in-use' &&
    st.network.phase === 'online' &&
    st.health !== undefined &&
    st.cloud?.connected === true
  );
}

async function subscriber(): Promise<CloudClient> {
  cloud = await CloudClient.connect(broker.url);
  await cloud.subscribe(`${BASE}/#`);
  return cloud;
}

const bytes = (ms: Received[]): number => ms.reduce((n, m) => n + Buffer.byteLength(m.topic) + Buffer.byteLength(m.text), 0);

describe('state and telemetry of a whole camera', () => {
  it('keeps the state under 8 KB with everything running, and moves the counters of real slices to telemetry', async () => {
    // Worst case for the state's own lists: 32 presets with 32-character names.
    const presets = Array.from({ length: 32 }, (_, i) => ({ name: `preset-${String(i).padStart(2, '0')}-${'x'.repeat(22)}`, pan: i * 10, tilt: 0 }));
    const s = await bootCamera(smallClip(), { ptz: { presets }, cloud: { url: broker.url, allowPlaintext: true, telemetrySeconds: 10 } });
    await waitUntil(() => settled(s.sup.state.get()), 'every service running', 20_000);
    // A person walks through the clip: detection, recording and events are live.
    await waitUntil(() => (s.sup.state.get().detection?.lenses.wide?.events ?? 0) > 0, 'a detection event', 30_000);
    const c = await subscriber();
    // The retained one from the connect, then a periodic one (with retain-as-published both carry the flag).
    const tel = await waitUntil(() => c.on(`${BASE}/telemetry`)[1], 'a periodic telemetry document', 15_000);
    expect(tel.retain).toBe(true);
    const state = await waitUntil(() => c.on(`${BASE}/state`).at(-1), 'the retained state');
    expect(state.retain).toBe(true);

    const doc = PublishedStateSchema.parse(JSON.parse(state.text));
    const size = Buffer.byteLength(state.text);
    console.log(`state document with every service running: ${size} bytes (limit ${STATE_MAX_BYTES}); telemetry ${Buffer.byteLength(tel.text)} bytes`);
    expect(size).toBeLessThan(STATE_MAX_BYTES);
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['capture', 'detection', 'recording', 'storage', 'ptz', 'alarm', 'live', 'health', 'network', 'cloud', 'led']));
    expect((doc.ptz as { presets: string[] }).presets).toHaveLength(32);

    // The counters of the real slices are in telemetry, at their store paths, and not in the state.
    const t = TelemetrySchema.parse(JSON.parse(tel.text)) as Record<string, any>;
    expect(t.bootId).toBe(s.sup.state.get().bootId);
    for (const lens of ['wide', 'ptz']) {
      expect(t.capture[lens].tap.frames).toBeGreaterThan(0);
      expect(t.capture[lens].segments).toBeGreaterThanOrEqual(0);
      expect(t.detection.lenses[lens].framesIn).toBeGreaterThan(0);
      expect(typeof t.recording.lenses[lens].kept).toBe('number');
    }
    expect(t.health.memory.availableBytes).toBeGreaterThan(0);
    expect(t.storage.freeBytes).toBeGreaterThan(0);
    expect(t.children['capture.wide'].pid).toBeGreaterThan(0);
    const d = doc as Record<string, any>;
    expect(d.capture.wide.status).toBe('running');
    expect(d.capture.wide.tap).not.toHaveProperty('frames');
    expect(d.detection.lenses.wide).not.toHaveProperty('framesIn');
    expect(d.detection.lenses.wide.enabled).toContain('human');
    expect(d.storage).not.toHaveProperty('freeBytes');
    expect(d.health).not.toHaveProperty('at');
    expect(d.children['capture.wide']).not.toHaveProperty('pid');
  });

  it('is silent on a static scene: no state publish at all, only telemetry at its period', async () => {
    const s = await bootCamera(stillClip(), { cloud: { url: broker.url, allowPlaintext: true, telemetrySeconds: 10 } });
    await waitUntil(() => settled(s.sup.state.get()), 'every service running', 20_000);
    const c = await subscriber();
    await waitUntil(() => c.on(`${BASE}/state`).length > 0, 'the retained state');
    // The first tap statistics and the first health sample after boot are still settling in.
    await waitUntil(() => (s.sup.state.get().capture?.wide?.tap.frames ?? 0) > 20 && (s.sup.state.get().detection?.lenses.ptz?.framesIn ?? 0) > 20, 'frames flowing');
    await pause(3000);
    const from = c.messages.length;
    const startedAt = Date.now();
    const framesBefore = s.sup.state.get().capture!.wide!.tap.frames;
    // Real time: frames, counters and health samples keep moving meanwhile (the health default is 30 s).
    await pause(31_000);
    const window = c.messages.slice(from);
    const seconds = (Date.now() - startedAt) / 1000;
    const st = s.sup.state.get();
    expect(st.capture!.wide!.tap.frames - framesBefore).toBeGreaterThan(20);
    expect(st.detection!.lenses.wide!.inferences).toBe(0);
    const byTopic = (suffix: string) => window.filter((m) => m.topic === `${BASE}/${suffix}`);
    const states = byTopic('state');
    expect(states.map((m) => m.text), 'state publishes on a static scene').toEqual([]);
    const tel = byTopic('telemetry');
    // Every 10 s: timers may fire late on a busy machine, never early.
    expect(tel.length).toBeGreaterThanOrEqual(1);
    expect(tel.length).toBeLessThanOrEqual(Math.floor(seconds / 10) + 1);
    expect(window.filter((m) => !m.topic.endsWith('/telemetry'))).toEqual([]);
    // At the default period (300 s) an idle hour is 12 telemetry documents of this size.
    const perDoc = bytes(tel) / tel.length;
    const perHour = perDoc * (3600 / 300);
    console.log(`static scene, ${seconds.toFixed(0)} s: ${window.length} messages, ${bytes(window)} bytes; telemetry ${perDoc.toFixed(0)} bytes each → ${(perHour / 1024).toFixed(1)} KB/hour at the default period`);
    expect(perHour).toBeLessThanOrEqual(20 * 1024);
  });
});
