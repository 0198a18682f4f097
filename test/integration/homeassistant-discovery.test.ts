import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Board } from '../../board/schema.js';
import { defaultServices } from '../../src/services.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { startMosquitto, type Broker } from '../harness/mosquitto.js';
import { pause, PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';
import { smallClip, SMALL } from '../unit/capture/media-fixture.js';
import { CloudClient, type Received } from './cloud-helpers.js';

vi.setConfig(PROCESS_TIMEOUTS);

/**
 * A test client plays Home Assistant against a real Mosquitto and the whole camera (every
 * service, both lenses on the small clip a person walks through): it reads every discovery
 * config, checks it against the component's documented keys, drives every command topic through
 * its template, watches a binary_sensor follow a real detection episode, restarts the camera and
 * sees the same unique ids, and sees the configs removed when the local shell disables discovery.
 *
 * One camera for the whole file (booting it and waiting for a real episode is most of the run);
 * each `it` checks one thing, in the order a user meets them, so one failure does not hide the rest.
 */
const SERIAL = 'CAMSIM0000001';
const BASE = `camd/${SERIAL}`;
const PREFIX = 'homeassistant';

/**
 * Keys each component's config must have (HA docs, https://www.home-assistant.io/integrations/<component>.mqtt/,
 * "Configuration variables", the ones marked *required*, plus what the camera's entity cannot work
 * without — e.g. a light without command_topic is valid for HA but useless). image: one of
 * image_topic / url_topic is required (image.mqtt); device_trigger: automation_type, topic, type,
 * subtype (device_trigger.mqtt).
 */
const REQUIRED: Record<string, string[]> = {
  light: ['command_topic', 'state_topic', 'brightness_command_topic'],
  siren: ['command_topic'],
  switch: ['command_topic'],
  button: ['command_topic'],
  select: ['command_topic', 'options'],
  number: ['command_topic'],
  binary_sensor: ['state_topic'],
  sensor: ['state_topic'],
  image: ['image_topic', 'content_type'],
  device_trigger: ['automation_type', 'topic', 'type', 'subtype'],
  update: ['state_topic'],
};
const TOPIC_KEYS = /(^|_)topic$/;

/**
 * A tiny renderer for the few template forms the camera uses (HA renders them with Jinja; the
 * camera keeps them to these forms so this can check them): `{{ value }}` in command templates,
 * and over a JSON document `value_json.<path>`, `value_json.<path> or '<x>'`,
 * `'ON' if value_json.<path> else 'OFF'`, `'ON' if '<t>' in value_json.<path> else 'OFF'`.
 */
function renderCommand(tpl: string, value: string | number): string {
  const out = tpl.replace(/\{\{ value \}\}/g, String(value));
  if (out.includes('{{')) throw new Error(`unsupported command template ${tpl}`);
  return out;
}
const at = (doc: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), doc);
/** A value as a template prints it (an object would not be a usable state: it shows as JSON, and fails the checks). */
const show = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? 'undefined' : JSON.stringify(v));
function renderState(tpl: string, doc: unknown): string {
  let m = /^\{\{ value_json\.([\w.]+) \}\}$/.exec(tpl);
  if (m) return show(at(doc, m[1]!));
  m = /^\{\{ value_json\.([\w.]+) or (?:'([^']*)'|(\d+)) \}\}$/.exec(tpl);
  if (m) return show(at(doc, m[1]!) || (m[2] ?? m[3]!));
  m = /^\{\{ 'ON' if value_json\.([\w.]+) else 'OFF' \}\}$/.exec(tpl);
  if (m) return at(doc, m[1]!) ? 'ON' : 'OFF';
  m = /^\{\{ 'ON' if '(\w+)' in value_json\.([\w.]+) else 'OFF' \}\}$/.exec(tpl);
  if (m) {
    const list = at(doc, m[2]!);
    return Array.isArray(list) && list.includes(m[1]) ? 'ON' : 'OFF';
  }
  throw new Error(`unsupported state template ${tpl}`);
}

const boardOn = (clip: string) => (b: Board): Board => {
  const profiles = { hd: { width: SMALL.width, height: SMALL.height, fps: SMALL.fps, bitrateKbps: 300 }, sd: { width: 160, height: 90, fps: SMALL.fps, bitrateKbps: 120 } };
  const lens = { source: { kind: 'file' as const, path: clip, loop: true }, width: SMALL.width, height: SMALL.height, fps: SMALL.fps, codec: 'h264' as const, profiles, defaultProfile: 'hd' };
  return { ...b, video: { wide: lens, ptz: lens } };
};

interface Discovered {
  topic: string;
  component: string;
  config: Record<string, unknown>;
}
const configsOf = (ms: Received[]): Discovered[] =>
  ms
    .filter((m) => m.topic.startsWith(`${PREFIX}/`) && m.topic.endsWith('/config') && m.text.length > 0)
    .map((m) => ({ topic: m.topic, component: m.topic.split('/')[1]!, config: JSON.parse(m.text) as Record<string, unknown> }));
const bytes = (ms: Received[]): number => ms.reduce((n, m) => n + Buffer.byteLength(m.topic) + Buffer.byteLength(m.text), 0);
const isJpeg = (b: Buffer): boolean => b.length > 100 && b[0] === 0xff && b[1] === 0xd8 && b.at(-2) === 0xff && b.at(-1) === 0xd9;

let broker: Broker;
let sim: BootedSim | undefined;
let ha: CloudClient;
/** Pictures as HA's image entity gets them: raw bytes (CloudClient keeps text). */
let pictures: mqtt.MqttClient;
const pics: { topic: string; payload: Buffer; retain: boolean }[] = [];
let dir: string;
/** The configs of the connect burst, and what it cost. */
let first: Discovered[] = [];
let burst = { publishes: 0, bytes: 0 };

function bootCamera(): Promise<BootedSim> {
  // The same directory every boot: a restart keeps data/ (config, homeassistant.json), as on the board.
  return bootSim({ dir, board: boardOn(smallClip()), services: defaultServices });
}
const cam = (): BootedSim => {
  if (!sim) throw new Error('the camera is not running');
  return sim;
};

beforeAll(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), 'camd-ha-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const config = {
    cloud: { url: broker.url, allowPlaintext: true, telemetrySeconds: 10 },
    capture: { tap: { width: 96, height: 54, fps: 5, rgbWidth: 192, rgbHeight: 108 } },
    homeassistant: { enabled: true },
    ptz: { presets: [{ name: 'Front door', pan: 10, tilt: 0 }] },
  };
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify(config));
  ha = await CloudClient.connect(broker.url);
  await ha.subscribe(`${PREFIX}/#`);
  await ha.subscribe(`${BASE}/#`);
  pictures = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'ha-pictures', reconnectPeriod: 200 });
  pictures.on('message', (topic, payload, packet) => pics.push({ topic, payload: Buffer.from(payload), retain: packet.retain }));
  await pictures.subscribeAsync(`${BASE}/snapshot/+`, { qos: 0 });

  const t0 = Date.now();
  sim = await bootCamera();
  // The connect burst: wait until the count settles.
  let n = 0;
  await waitUntil(async () => {
    const now = configsOf(ha.messages).length;
    const stable = now > 30 && now === n;
    n = now;
    if (!stable) await pause(500);
    return stable;
  }, 'discovery configs', 60_000);
  const out = ha.messages.filter((m) => m.topic.startsWith(`${PREFIX}/`) && m.at >= t0);
  first = configsOf(out);
  burst = { publishes: out.length, bytes: bytes(out) };
  console.log(`discovery on connect: ${burst.publishes} publishes, ${burst.bytes} bytes (topic + payload)`);
});
afterAll(async () => {
  await pictures?.endAsync(true);
  await ha?.close();
  await sim?.dispose();
  await broker?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const find = (component: string, objectId: string): Discovered => {
  const d = first.find((x) => x.topic === `${PREFIX}/${component}/${SERIAL}/${objectId}/config`);
  if (!d) throw new Error(`no ${component} ${objectId} announced`);
  return d;
};

/** Sends one command payload the way HA does (MQTT 3.1.1 style: no response topic) and waits for the camera's reply. */
async function drive(topic: string, payload: string, idleMs = 10_000): Promise<Record<string, unknown>> {
  const replyTopic = `${topic}/reply`;
  const before = ha.on(replyTopic).length;
  await ha.publish(topic, payload, { qos: 1 });
  const m = await waitUntil(() => ha.on(replyTopic)[before], `reply on ${replyTopic} to ${payload}`, idleMs);
  return JSON.parse(m.text) as Record<string, unknown>;
}

/** The camera up with every service (capture, live, detection and PTZ have registered their commands). */
const running = (): Promise<unknown> =>
  waitUntil(() => {
    const st = cam().sup.state.get();
    return st.capture?.wide?.status === 'running' && st.detection?.model.status === 'ready' && st.ptz?.available === true;
  }, 'camera running', 60_000);

describe('Home Assistant MQTT discovery', () => {
  it('announces one device whose every entity config is well formed', () => {
    const components = new Set(first.map((d) => d.component));
    expect([...components].sort()).toEqual(Object.keys(REQUIRED).sort());
    const uniqueIds = new Set<string>();
    for (const d of first) {
      expect(d.topic).toMatch(new RegExp(`^${PREFIX}/${d.component}/${SERIAL}/[a-z0-9_]+/config$`));
      for (const k of REQUIRED[d.component]!) expect.soft(d.config, `${d.topic} lacks ${k}`).toHaveProperty(k);
      for (const [k, v] of Object.entries(d.config)) if (TOPIC_KEYS.test(k)) expect.soft(String(v), `${d.topic} ${k}`).toMatch(new RegExp(`^(${BASE}|${PREFIX})/`));
      expect.soft(d.config.device).toMatchObject({ identifiers: [SERIAL], model: expect.any(String), manufacturer: 'camd', sw_version: cam().sup.state.get().release?.version });
      if (d.component !== 'device_trigger') {
        expect.soft(d.config.availability_topic, d.topic).toBe(`${BASE}/availability`);
        expect.soft(d.config.unique_id, d.topic).toMatch(new RegExp(`^${SERIAL}_`));
        expect.soft(uniqueIds.has(String(d.config.unique_id)), `${d.topic} unique_id repeated`).toBe(false);
        uniqueIds.add(String(d.config.unique_id));
      }
    }
    expect(first.filter((d) => d.component === 'binary_sensor')).toHaveLength(6);
    expect(first.filter((d) => d.component === 'image')).toHaveLength(2);
    expect(first.some((d) => d.config.payload_press === '{"name":"Front door"}')).toBe(true);
    // Retained, so HA restarted later still finds them.
    const retained = ha.messages.filter((m) => m.topic.startsWith(`${PREFIX}/`) && m.topic.endsWith('/config'));
    expect(retained.every((m) => m.retain)).toBe(true);
    expect(burst.publishes).toBe(first.length);
  });

  it("re-publishes everything on Home Assistant's birth message", async () => {
    const birthAt = ha.messages.length;
    await ha.publish(`${PREFIX}/status`, 'online', { qos: 1 });
    await waitUntil(() => configsOf(ha.messages.slice(birthAt)).length === first.length, 're-published after the birth message', 20_000);
    expect(new Set(configsOf(ha.messages.slice(birthAt)).map((d) => d.topic))).toEqual(new Set(first.map((d) => d.topic)));
    // HA can be set to publish its birth retained: live, it counts all the same.
    const retainedAt = ha.messages.length;
    await ha.publish(`${PREFIX}/status`, 'online', { qos: 1, retain: true });
    await waitUntil(() => configsOf(ha.messages.slice(retainedAt)).length === first.length, 're-published after a retained birth message', 20_000);
    await ha.publish(`${PREFIX}/status`, '', { qos: 1, retain: true });
  });

  it("follows a real episode: binary_sensor ON then OFF, the start's device trigger, its picture raw on the image topic", async () => {
    await running();
    const human = find('binary_sensor', 'human_wide');
    const tpl = String(human.config.value_template);
    const states = (): string[] => ha.on(`${BASE}/state`).map((m) => renderState(tpl, JSON.parse(m.text)));
    await waitUntil(() => states().includes('ON'), 'human_wide ON at an episode start', 90_000);
    await waitUntil(() => states().lastIndexOf('OFF') > states().indexOf('ON'), 'human_wide OFF at its end', 90_000);

    const trigger = find('device_trigger', 'detection_human_start');
    const fired = ha.on(String(trigger.config.topic)).filter((m) => renderState(String(trigger.config.value_template), JSON.parse(m.text)) === trigger.config.payload);
    expect(fired.length).toBeGreaterThan(0);

    const image = find('image', 'snapshot_wide');
    const pic = await waitUntil(() => pics.find((m) => m.topic === image.config.image_topic), 'detection picture', 30_000);
    expect(isJpeg(pic.payload), `a whole JPEG (${pic.payload.length} bytes)`).toBe(true);
    expect(pic.retain).toBe(false);
  });

  it('renders every state template on the documents the camera publishes', async () => {
    // A telemetry with the health readings.
    await waitUntil(() => at(ha.last(`${BASE}/telemetry`), 'health.cpu.loadPercent') !== undefined, 'telemetry with health', 30_000);
    const docs: Record<string, unknown> = {
      [`${BASE}/state`]: ha.last(`${BASE}/state`),
      [`${BASE}/telemetry`]: ha.last(`${BASE}/telemetry`),
      [`${BASE}/config/reported`]: ha.last(`${BASE}/config/reported`),
    };
    let rendered = 0;
    for (const d of first) {
      for (const [tk, vk] of [['state_topic', 'value_template'], ['state_topic', 'state_value_template'], ['brightness_state_topic', 'brightness_value_template'], ['latest_version_topic', 'latest_version_template']] as const) {
        const topic = d.config[tk];
        const t = d.config[vk];
        if (typeof topic !== 'string' || typeof t !== 'string') continue;
        expect.soft(Object.keys(docs), `${d.topic} ${tk}`).toContain(topic);
        if (d.topic.includes('/card_free/')) continue; // no card in this test: storage.freeBytes is absent
        expect.soft(renderState(t, docs[topic]), `${d.topic} ${vk}`).not.toBe('undefined');
        rendered++;
      }
    }
    expect(rendered).toBeGreaterThan(20);
    expect(renderState(String(find('update', 'firmware').config.value_template), docs[`${BASE}/state`])).toBe(cam().sup.state.get().release?.version);
  });

  it('runs every command topic, through its template, as Home Assistant sends it', async () => {
    await running();
    const sends: [string, string][] = [];
    for (const d of first) {
      const cfg = d.config as Record<string, string | number | string[]>;
      const topic = cfg.command_topic as string | undefined;
      if (!topic || topic.endsWith('/cmd/reboot')) continue; // the reboot has its own test
      switch (d.component) {
        case 'light':
          sends.push([cfg.brightness_command_topic as string, renderCommand(cfg.brightness_command_template as string, 40)], [topic, cfg.payload_off as string]);
          break;
        case 'siren':
          sends.push([topic, renderCommand(cfg.command_template as string, 'ON')], [topic, renderCommand(cfg.command_off_template as string, 'OFF')]);
          break;
        case 'switch': {
          const on = cfg.command_template ? renderCommand(cfg.command_template as string, cfg.payload_on as string) : (cfg.payload_on as string);
          const off = cfg.command_template ? renderCommand(cfg.command_template as string, cfg.payload_off as string) : (cfg.payload_off as string);
          sends.push([topic, on], [topic, off]);
          break;
        }
        case 'button':
          if (topic.includes('/ha/snapshot/')) break; // the next test: it checks the picture too
          sends.push([topic, cfg.payload_press as string]);
          break;
        case 'select':
          sends.push([topic, renderCommand(cfg.command_template as string, (cfg.options as string[]).at(-1)!)]);
          break;
        case 'number':
          sends.push([topic, renderCommand(cfg.command_template as string, 30)]);
          break;
      }
    }
    expect(sends.length).toBeGreaterThan(15);
    for (const [topic, payload] of sends) {
      // sleep.set answers once capture has really stopped or is back, a preset goto once the head is there.
      const reply = await drive(topic, payload).catch((err: unknown) => ({ ok: false, error: String(err) }));
      expect.soft(reply, `${topic} ${payload}`).toMatchObject({ ok: true });
    }
    // The bridge refuses what is neither ON nor OFF, through the same reply path.
    expect(await drive(find('switch', 'alarm').config.command_topic as string, 'MAYBE')).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    // A retained command is never run (it would replay on every connect): no reply at all.
    const alarmTopic = find('switch', 'alarm').config.command_topic as string;
    const repliesBefore = ha.on(`${alarmTopic}/reply`).length;
    await ha.publish(alarmTopic, 'ON', { qos: 1, retain: true });
    await pause(1000);
    await ha.publish(alarmTopic, '', { qos: 1, retain: true });
    expect(ha.on(`${alarmTopic}/reply`)).toHaveLength(repliesBefore);
    expect(cam().sup.state.get().alarm?.active).toBe(false);
  });

  it('the snapshot button publishes a raw JPEG on the image topic', async () => {
    await running();
    const image = find('image', 'snapshot_ptz');
    const before = pics.filter((m) => m.topic === image.config.image_topic).length;
    const button = find('button', 'take_snapshot_ptz');
    // Sleep was switched off just before: capture may need a moment to deliver pictures again.
    await waitUntil(async () => (await drive(String(button.config.command_topic), String(button.config.payload_press))).ok === true, 'a snapshot after waking', 30_000, 1000);
    const pic = await waitUntil(() => pics.filter((m) => m.topic === image.config.image_topic)[before], 'snapshot picture', 10_000);
    expect(isJpeg(pic.payload), `a whole JPEG (${pic.payload.length} bytes)`).toBe(true);
    // The reply is only ok/error: the picture is not also sent as base64 JSON.
    expect(ha.on(`${String(button.config.command_topic)}/reply`).at(-1)!.text).toBe('{"ok":true}');
  });

  it('the cloud can neither enable nor disable it (a local setting)', async () => {
    const refused = await ha.request(BASE, 'config.set', { patch: { homeassistant: { enabled: false } } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden', path: 'homeassistant.enabled' } });
    expect(cam().sup.config.get().homeassistant.enabled).toBe(true);
  });

  it('after a reboot (the button) the restarted camera announces the same unique ids', async () => {
    const reboot = find('button', 'reboot');
    const s = cam();
    expect(await drive(String(reboot.config.command_topic), String(reboot.config.payload_press))).toMatchObject({ ok: true });
    // The sim board's reboot stops the supervisor with "restart"; main.ts then boots a new one from
    // what is on disk, in the same process. So does this test.
    expect(await s.sup.done).toMatchObject({ action: 'restart' });
    sim = undefined;
    const rebootAt = ha.messages.length;
    sim = await bootCamera();
    await waitUntil(() => configsOf(ha.messages.slice(rebootAt)).length >= first.length, 're-announced after the restart', 30_000);
    const again = configsOf(ha.messages.slice(rebootAt));
    const ids = (ds: Discovered[]): Set<unknown> => new Set(ds.filter((d) => d.config.unique_id).map((d) => d.config.unique_id));
    expect(ids(again)).toEqual(ids(first));
    expect(new Set(again.map((d) => d.topic))).toEqual(new Set(first.map((d) => d.topic)));
  });

  it('a changed discovery prefix: the old configs removed, the new ones published, the birth message heard there', async () => {
    await waitUntil(() => cam().sup.state.get().cloud?.connected === true, 'link up', 30_000);
    await ha.subscribe('ha_test/#');
    const at0 = ha.messages.length;
    await cam().sup.config.patch({ homeassistant: { discoveryPrefix: 'ha_test' } }, 'test');
    const since = (): Received[] => ha.messages.slice(at0);
    await waitUntil(() => since().filter((m) => m.topic.startsWith('ha_test/') && m.text.length > 0).length >= first.length, 'configs under the new prefix', 20_000);
    await waitUntil(() => since().filter((m) => m.topic.startsWith(`${PREFIX}/`) && m.text === '').length >= first.length, 'old configs removed', 20_000);
    const birthAt = ha.messages.length;
    await ha.publish('ha_test/status', 'online', { qos: 1 });
    await waitUntil(() => ha.messages.slice(birthAt).filter((m) => m.topic.startsWith('ha_test/') && m.text.length > 0).length >= first.length, 're-published on the birth at the new prefix', 20_000);
    // Back, for the next test.
    const backAt = ha.messages.length;
    await cam().sup.config.patch({ homeassistant: { discoveryPrefix: PREFIX } }, 'test');
    await waitUntil(() => configsOf(ha.messages.slice(backAt)).length >= first.length && ha.messages.slice(backAt).filter((m) => m.topic.startsWith('ha_test/') && m.text === '').length >= first.length, 'back at the first prefix', 20_000);
  });

  it('disabled locally: every config removed (empty retained), nothing retained left, pictures stop', async () => {
    await waitUntil(() => cam().sup.state.get().cloud?.connected === true, 'link up', 30_000);
    const offAt = ha.messages.length;
    await cam().sup.config.patch({ homeassistant: { enabled: false } }, 'test');
    await waitUntil(() => ha.messages.slice(offAt).filter((m) => m.topic.startsWith(`${PREFIX}/`) && m.text === '').length >= first.length, 'configs removed', 20_000);
    const late = await CloudClient.connect(broker.url);
    try {
      await late.subscribe(`${PREFIX}/#`);
      await pause(1000);
      expect(configsOf(late.messages)).toEqual([]);
    } finally {
      await late.close();
    }
    // The bridge is gone with it: a snapshot button press gets no answer and no picture.
    const button = find('button', 'take_snapshot_wide');
    const picsBefore = pics.length;
    const repliesBefore = ha.on(`${String(button.config.command_topic)}/reply`).length;
    await ha.publish(String(button.config.command_topic), 'PRESS', { qos: 1 });
    await pause(1500);
    expect(ha.on(`${String(button.config.command_topic)}/reply`)).toHaveLength(repliesBefore);
    expect(pics.length).toBe(picsBefore);
  });
});
