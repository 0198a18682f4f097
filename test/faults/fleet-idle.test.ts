import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadBoard } from '../../board/schema.js';
import { SIM_BOARD_FILE } from '../harness/boot.js';
import { startDaemon, type DaemonProc } from '../harness/daemon.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { waitUntil } from '../harness/wait.js';
import { CloudClient, type Received } from '../integration/cloud-helpers.js';
import { mountCard, unmountCard } from '../unit/capture/card-fixture.js';
import { SMALL, stillClip } from '../unit/capture/media-fixture.js';
import { figures } from './fault-kit.js';
import { confirmed } from '../harness/confirm.js';

/**
 * What one idle camera costs the broker per hour, measured rather than extrapolated: the whole
 * daemon (every service, both lenses on a static scene, detection, a card) with the default
 * settings (telemetry every 300 s), an independent subscriber counting every byte (topic +
 * payload) on `camd/<serial>/#`. The window runs from one periodic telemetry document to the
 * CAMD_IDLE_PERIODS-th next (default 1), so it holds whole periods. Goal: ≤ 20 kB an hour
 * (it was ~6.7 MB: the whole state, ~4.4 KB, every ~2.3 s).
 */
const PERIODS = Number(process.env.CAMD_IDLE_PERIODS ?? 1);
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;
const GOAL_BYTES_PER_HOUR = 20_000;

vi.setConfig({ testTimeout: (PERIODS + 2) * 300_000 * 3, hookTimeout: 300_000 });

let broker: Broker;
let dir: string;
let card: string;
let daemon: DaemonProc | undefined;
let cloud: CloudClient;

beforeAll(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), 'camd-idle-'));
  const clip = stillClip();
  const base = loadBoard(SIM_BOARD_FILE);
  const profiles = { hd: { width: SMALL.width, height: SMALL.height, fps: SMALL.fps, bitrateKbps: 300 }, sd: { width: 214, height: 120, fps: SMALL.fps, bitrateKbps: 120 } };
  const lens = { source: { kind: 'file' as const, path: clip, loop: true }, width: SMALL.width, height: SMALL.height, fps: SMALL.fps, codec: 'h264' as const, profiles, defaultProfile: 'hd' };
  writeFileSync(join(dir, 'board.json'), JSON.stringify({ ...base, video: { wide: lens, ptz: lens } }));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  // Defaults but the broker (and a smaller tap, for two shared cores): telemetry every 300 s.
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ cloud: { url: broker.url, allowPlaintext: true }, capture: { tap: { width: 96, height: 54, fps: 5, rgbWidth: 192, rgbHeight: 108 } } }));
  card = join(dir, 'card');
  mountCard(card, '64m');
  cloud = await CloudClient.connect(broker.url);
  await cloud.subscribe(`${BASE}/#`);
  daemon = await startDaemon({ dir, board: join(dir, 'board.json') });
  const d = daemon;
  expect(await confirmed((cmd, args) => d.call(cmd, args), 'storage.initialise')).toMatchObject({ ok: true });
});

afterAll(async () => {
  if (daemon) {
    daemon.proc.kill('SIGTERM');
    await daemon.exited;
  }
  await cloud?.close();
  await broker?.dispose();
  unmountCard(card);
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (ms: readonly Received[]): number => ms.reduce((n, m) => n + Buffer.byteLength(m.topic) + Buffer.byteLength(m.text), 0);

describe('one idle camera on a static scene, default settings', () => {
  it(`sends ≤ ${GOAL_BYTES_PER_HOUR / 1000} kB an hour: telemetry once per period, no state`, async () => {
    const d = daemon!;
    await waitUntil(async () => {
      const r = await d.call('status');
      const st = r.ok ? (r.result as Record<string, any>) : undefined;
      return (
        st?.detection?.model?.status === 'ready' &&
        st?.capture?.wide?.status === 'running' &&
        st?.capture?.ptz?.status === 'running' &&
        st?.storage?.status === 'in-use' &&
        st?.cloud?.connected === true &&
        Object.values(st.services as Record<string, { status: string }>).every((x) => x.status === 'running')
      );
    }, 'every service running', 30_000, 500);
    const telemetry = (): Received[] => cloud.on(`${BASE}/telemetry`);
    // The one at the connect, then the first periodic one opens the window.
    const opened = telemetry().length + 1;
    const start = await waitUntil(() => telemetry()[opened - 1], 'the first periodic telemetry', 330_000, 1000);
    const end = await waitUntil(() => telemetry()[opened - 1 + PERIODS], `${PERIODS} more telemetry periods`, PERIODS * 330_000, 1000);
    const window = cloud.messages.filter((m) => m.at > start.at && m.at <= end.at);
    const seconds = (end.at - start.at) / 1000;
    const perHour = (bytes(window) * 3600) / seconds;
    const topics = [...new Set(window.map((m) => m.topic.slice(BASE.length + 1)))];
    figures('idle-camera', { seconds: Math.round(seconds), messages: window.length, bytes: bytes(window), topics, bytesPerHour: Math.round(perHour), telemetryBytes: bytes([end]) });
    expect(window.filter((m) => m.topic === `${BASE}/state`).map((m) => m.text)).toEqual([]);
    expect(topics).toEqual(['telemetry']);
    expect(window).toHaveLength(PERIODS);
    expect(perHour).toBeLessThanOrEqual(GOAL_BYTES_PER_HOUR);
    // A static scene: the detector never ran, yet the counters kept moving.
    const t0 = JSON.parse(start.text) as Record<string, any>;
    const t1 = JSON.parse(end.text) as Record<string, any>;
    expect(t1.detection.lenses.wide.inferences).toBe(0);
    expect(t1.capture.wide.tap.frames).toBeGreaterThan(t0.capture.wide.tap.frames);
  });
});
