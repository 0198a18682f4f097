import { describe, expect, it } from 'vitest';
import { contractJsonSchemas, PublishedStateSchema, TelemetrySchema } from '../../../src/cloud/schema.js';
import { buildDocuments } from '../../../src/cloud/state-publisher.js';
import { splitTelemetry, TELEMETRY_PATHS } from '../../../src/cloud/telemetry-split.js';
import { initialState, type CamState } from '../../../src/state/store.js';

const info = { serial: 'CAM123456789', model: 'sim', board: 'sim' };
const T = 1_700_000_000_000;

/** A store as a running camera has it: both lenses, detection, a card, the cloud link, health. */
function fullStore(): CamState {
  const lensCapture = (pid: number) => ({
    status: 'running' as const,
    pid,
    recording: true,
    orientation: 'normal' as const,
    reencode: false,
    restarts: 0,
    segments: 42,
    lastSegmentAt: T - 3000,
    tap: { frames: 9000, delivered: 8990, dropped: 10, unpaired: 0, fps: 5, lastFrameAt: T - 100, gray: { width: 352, height: 198 }, rgb: { width: 640, height: 360 } },
  });
  const lensDetection = {
    enabled: ['human' as const],
    objectDetection: true,
    framesIn: 9000,
    changeFrames: 120,
    staticFrames: 8800,
    dropped: { rate: 3, busy: 1 },
    inferences: 80,
    failed: 0,
    events: 4,
    lastEventAt: T - 60_000,
    open: [],
    latencyMs: { p50: 14, p99: 44, samples: 4 },
  };
  const disk = (path: string) => ({ path, mount: path, isMountPoint: true, fs: 'tmpfs', sizeBytes: 1e9, usedBytes: 4e8, availableBytes: 6e8, usePercent: 40 });
  return {
    ...initialState(7, 'boot-7', T - 3_600_000),
    lifecycle: 'running',
    services: { cloud: { status: 'running', since: T - 3_599_000 }, capture: { status: 'running', since: T - 3_599_000 } },
    children: {
      'capture.wide': { name: 'capture.wide', kind: 'supervised', status: 'running', pid: 101, restarts: 0 },
      'capture.ptz': { name: 'capture.ptz', kind: 'supervised', status: 'running', pid: 102, restarts: 2, lastExit: { code: null, signal: 'SIGKILL', at: T - 100_000 } },
    },
    network: {
      phase: 'online',
      active: 'wired',
      wired: { iface: 'eth0', carrier: true, hasRoute: true, address: '192.0.2.10' },
      wifi: { iface: 'wlan0', ssid: 'home', signal: 71, connected: true, saved: true },
      check: { via: 'wired', ok: true, target: 'broker:8883', at: T - 5000, latencyMs: 12 },
    },
    cloud: {
      link: 'online',
      connected: true,
      broker: 'mqtts://broker:8883',
      baseTopic: 'camd/CAM123456789',
      since: T - 3_598_000,
      lastConnectedAt: T - 3_598_000,
      attempt: 0,
      lastPubackAt: T - 1000,
      outbox: { depth: 0, bytes: 4096, maxBytes: 16 << 20, dropped: 0, inFlight: 0, segments: 1 },
    },
    capture: { wide: lensCapture(101), ptz: lensCapture(102) },
    detection: { model: { status: 'ready', path: '/opt/camd/model.onnx', restarts: 0 }, sleeping: false, lenses: { wide: lensDetection, ptz: { ...lensDetection, open: ['human'] } } },
    recording: {
      mode: 'event',
      lenses: { wide: { active: true, reasons: ['event'], kept: 40, dropped: 2, staging: 1, lastKeptAt: T - 3000 }, ptz: { active: false, reasons: [], kept: 0, dropped: 44, staging: 1 } },
    },
    storage: { status: 'in-use', reason: 'ok', mount: '/media/card', cardId: 'c-1', readOnly: false, totalBytes: 1e9, freeBytes: 6e8, freePercent: 60, minFreePercent: 10, checkedAt: T - 1000 },
    health: {
      at: T - 2000,
      cpu: { loadPercent: 31.5, loadAverage1m: 0.8, cores: 2 },
      temperatureC: 51,
      memory: { totalBytes: 1e9, availableBytes: 6e8, usedPercent: 40 },
      disks: { data: disk('/var/lib/camd'), card: disk('/media/card') },
      uptimeSeconds: 3600,
      errors: {},
    },
    live: { sessions: [{ id: 'l-1', lenses: ['wide'], url: 'rtmps://live.example:443', startedAt: T - 10_000, profile: 'hd', copy: true, audio: false, frames: 100 }], talk: null },
  } satisfies CamState;
}

/** Deep merge of b over a, as a cloud consumer does it: objects by key, array elements by `id`. */
function deepMerge(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (Array.isArray(a) && Array.isArray(b)) {
    const byId = new Map(b.map((x: { id?: unknown }) => [x.id, x]));
    return a.map((x: { id?: unknown }) => deepMerge(x, byId.get(x.id)));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b)) out[k] = deepMerge(out[k], v);
    return out;
  }
  return b;
}

describe('state / telemetry split', () => {
  it('moves every listed field to telemetry at the same path, and merging telemetry over state gives the store back', () => {
    const store = fullStore();
    const { state, telemetry } = splitTelemetry(store as unknown as Record<string, unknown>);
    expect(deepMerge(state, telemetry)).toEqual(store);
    expect(telemetry).toMatchObject({
      children: { 'capture.wide': { pid: 101, restarts: 0 }, 'capture.ptz': { pid: 102, restarts: 2 } },
      capture: { wide: { segments: 42, tap: { frames: 9000, fps: 5 } } },
      detection: { lenses: { wide: { framesIn: 9000, dropped: { rate: 3, busy: 1 } } } },
      health: { cpu: { loadPercent: 31.5 }, disks: { card: { usedBytes: 4e8 } } },
      cloud: { lastPubackAt: T - 1000, outbox: { depth: 0, bytes: 4096 } },
      network: { wifi: { signal: 71 }, check: { at: T - 5000, latencyMs: 12 } },
      live: { sessions: [{ id: 'l-1', frames: 100 }] },
    });
    // What says what the camera is doing stays in the state.
    expect(state).toMatchObject({
      children: { 'capture.ptz': { status: 'running', lastExit: { signal: 'SIGKILL' } } },
      capture: { wide: { status: 'running', recording: true, tap: { gray: { width: 352 } } } },
      detection: { model: { status: 'ready' }, lenses: { ptz: { open: ['human'], objectDetection: true } } },
      recording: { lenses: { wide: { active: true, reasons: ['event'] } } },
      storage: { status: 'in-use', totalBytes: 1e9 },
      health: { cpu: { cores: 2 }, memory: { totalBytes: 1e9 }, errors: {} },
      cloud: { link: 'online', outbox: { maxBytes: 16 << 20 } },
      live: { sessions: [{ id: 'l-1', url: 'rtmps://live.example:443' }] },
    });
    const flat = JSON.stringify(state);
    for (const key of ['framesIn', 'staticFrames', 'lastPubackAt', 'freeBytes', 'loadPercent', 'uptimeSeconds', '"pid"', '"frames"', '"segments"']) {
      expect(flat, key).not.toContain(key);
    }
    // The input is not modified.
    expect(store).toEqual(fullStore());
  });

  it('both documents match the published contract', () => {
    const docs = buildDocuments(fullStore(), info, T);
    expect(PublishedStateSchema.parse(docs.state)).toMatchObject({ schema: 1, serial: info.serial, uptimeMs: 3_600_000 });
    expect(TelemetrySchema.parse(docs.telemetry)).toMatchObject({ schema: 1, ts: T, uptimeMs: 3_600_000, bootId: 'boot-7' });
    // The contract schemas are strict where they describe a slice: a field listed in one document only.
    expect(() => PublishedStateSchema.parse({ ...docs.state, cloud: { ...(docs.state.cloud as object), lastPubackAt: 1 } })).toThrow();
    expect(() => TelemetrySchema.parse({ ...docs.telemetry, cloud: { ...(docs.telemetry.cloud as object), link: 'online' } })).toThrow();
  });

  it('is part of the published contract (`cloud.schema`)', () => {
    const schemas = contractJsonSchemas() as Record<string, { properties?: Record<string, unknown> }>;
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(['state', 'telemetry', 'event', 'reply', 'reported']));
    expect(Object.keys(schemas.telemetry!.properties!)).toEqual(expect.arrayContaining(['schema', 'ts', 'uptimeMs', 'bootId', 'cloud', 'health']));
  });

  it('keeps a failed reading (null) and unknown fields in the state, and leaves out objects the split emptied', () => {
    const { state, telemetry } = splitTelemetry({
      health: { at: 1, cpu: null, memory: { availableBytes: 5, usedPercent: 1 }, errors: { cpu: 'no CPU load figures' } },
      faults: {},
      brandNew: { counter: 1 },
    });
    expect(state).toEqual({ health: { cpu: null, errors: { cpu: 'no CPU load figures' } }, faults: {}, brandNew: { counter: 1 } });
    expect(telemetry).toEqual({ health: { at: 1, memory: { availableBytes: 5, usedPercent: 1 } } });
  });

  it('splits arrays element by element, carrying the id into telemetry', () => {
    const { state, telemetry } = splitTelemetry({ a: [{ id: 'x', n: 1, keep: true }, { n: 2 }, 'plain'] }, ['a[].n']);
    expect(state).toEqual({ a: [{ id: 'x', keep: true }, {}, 'plain'] });
    expect(telemetry).toEqual({ a: [{ id: 'x', n: 1 }, { n: 2 }] });
  });

  it('every listed path is well-formed (dot-separated names, `*` and a trailing `[]` on a name)', () => {
    for (const p of TELEMETRY_PATHS) expect(p, p).toMatch(/^([A-Za-z][A-Za-z0-9]*(\[\])?|\*)(\.([A-Za-z][A-Za-z0-9]*(\[\])?|\*))*$/);
    expect(new Set(TELEMETRY_PATHS).size).toBe(TELEMETRY_PATHS.length);
  });
});
