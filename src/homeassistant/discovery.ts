import { createHash } from 'node:crypto';
import type { LensName } from '../../board/schema.js';
import { DETECTION_TYPES } from '../domain/types.js';

/**
 * Home Assistant MQTT discovery documents for the one camera (HA docs: "MQTT", sections
 * "Discovery messages" and each component's page). One retained config per entity, at
 * `<prefix>/<component>/<serial>/<object id>/config` (per-component discovery, as Zigbee2MQTT
 * does: each entity can be removed on its own, e.g. a deleted preset's button).
 *
 * Templates are kept to a few forms (documented in /work/notes/ha.md, rendered by the test's tiny
 * renderer): `{{ value }}` in command templates, and `{{ value_json.<path> }}`,
 * `{{ value_json.<path> or '<x>' }}`, `{{ 'ON' if value_json.<path> else 'OFF' }}`,
 * `{{ 'ON' if '<t>' in value_json.<path> else 'OFF' }}` over the state documents. Every command
 * goes to the camera's own `cmd/<name>` topic, so the command table validates it and the trust
 * model applies exactly as for the cloud; the two actions without a one-topic command (the alarm's
 * start/stop pair, a snapshot delivered as a picture) use the `<base>/ha/…` bridge topics, which run
 * the same commands through the table (service.ts).
 */
export type Component = 'light' | 'siren' | 'switch' | 'button' | 'select' | 'number' | 'binary_sensor' | 'sensor' | 'image' | 'device_trigger' | 'update';

export interface DiscoveryDoc {
  component: Component;
  objectId: string;
  topic: string;
  config: Record<string, unknown>;
}

export interface DiscoveryInput {
  prefix: string;
  base: string;
  serial: string;
  model: string;
  deviceName: string;
  swVersion: string;
  lenses: readonly LensName[];
  /** Live-view quality profiles per lens and the board's default. */
  profiles: Partial<Record<LensName, { names: string[]; defaultProfile: string }>>;
  presets: readonly string[];
}

const LENS_LABEL: Record<LensName, string> = { wide: 'wide', ptz: 'PTZ' };
const TYPE_LABEL = { human: 'Person', vehicle: 'Vehicle', change: 'Change' } as const;
const onOff = (path: string): string => `{{ 'ON' if value_json.${path} else 'OFF' }}`;

/** A preset name can be anything (1–32 chars): its object id is a hash, stable across restarts and reorderings. */
export function presetObjectId(name: string): string {
  return `ptz_preset_${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

export function bridgeTopics(base: string, lenses: readonly LensName[]): { alarm: string; snapshot: Record<string, string> } {
  return { alarm: `${base}/ha/alarm`, snapshot: Object.fromEntries(lenses.map((l) => [l, `${base}/ha/snapshot/${l}`])) };
}

export function pictureTopic(base: string, lens: LensName): string {
  return `${base}/snapshot/${lens}`;
}

export function discoveryDocs(i: DiscoveryInput): DiscoveryDoc[] {
  const state = `${i.base}/state`;
  const telemetry = `${i.base}/telemetry`;
  const reported = `${i.base}/config/reported`;
  const events = `${i.base}/events`;
  const cmd = (name: string): string => `${i.base}/cmd/${name}`;
  const bridge = bridgeTopics(i.base, i.lenses);
  const device = { identifiers: [i.serial], name: i.deviceName, manufacturer: 'camd', model: i.model, serial_number: i.serial, sw_version: i.swVersion };
  const origin = { name: 'camd', sw_version: i.swVersion };
  const docs: DiscoveryDoc[] = [];
  const add = (component: Component, objectId: string, cfg: Record<string, unknown>): void => {
    const common =
      component === 'device_trigger'
        ? { device }
        : { unique_id: `${i.serial}_${objectId}`, availability_topic: `${i.base}/availability`, device, origin };
    docs.push({ component, objectId, topic: `${i.prefix}/${component}/${i.serial}/${objectId}/config`, config: { ...cfg, ...common } });
  };

  add('light', 'spotlight', {
    name: 'Spotlight',
    command_topic: cmd('spotlight.set'),
    payload_on: '{"on":true}',
    payload_off: '{"on":false}',
    // Only the brightness command on turn-on: spotlight.set takes on + brightness in one call.
    on_command_type: 'brightness',
    brightness_command_topic: cmd('spotlight.set'),
    brightness_command_template: '{"on":true,"brightness":{{ value }}}',
    brightness_scale: 100,
    state_topic: state,
    state_value_template: onOff('alarm.spotlight'),
    brightness_state_topic: state,
    brightness_value_template: '{{ value_json.alarm.spotlightBrightness or 100 }}',
  });
  add('siren', 'siren', {
    name: 'Siren',
    command_topic: cmd('output.set'),
    command_template: '{"output":"siren","on":true}',
    command_off_template: '{"output":"siren","on":false}',
    state_topic: state,
    value_template: onOff('alarm.siren'),
  });
  add('switch', 'alarm', { name: 'Alarm', command_topic: bridge.alarm, payload_on: 'ON', payload_off: 'OFF', state_topic: state, value_template: onOff('alarm.active') });
  add('switch', 'sleep', {
    name: 'Sleep (privacy)',
    icon: 'mdi:eye-off',
    command_topic: cmd('sleep.set'),
    command_template: '{"on":{{ value }}}',
    payload_on: 'true',
    payload_off: 'false',
    state_topic: state,
    value_template: onOff('sleeping'),
  });
  for (const t of DETECTION_TYPES) {
    add('switch', `detection_${t}`, {
      name: `${TYPE_LABEL[t]} detection`,
      entity_category: 'config',
      command_topic: cmd('detection.set'),
      command_template: `{"algorithm":"${t}","enabled":{{ value }}}`,
      payload_on: 'true',
      payload_off: 'false',
      state_topic: reported,
      value_template: onOff(`config.detection.${t}.enabled`),
    });
    add('number', `sensitivity_${t}`, {
      name: `${TYPE_LABEL[t]} sensitivity`,
      entity_category: 'config',
      command_topic: cmd('detection.set'),
      command_template: `{"algorithm":"${t}","sensitivity":{{ value }}}`,
      min: 1,
      max: 100,
      step: 1,
      mode: 'slider',
      state_topic: reported,
      value_template: `{{ value_json.config.detection.${t}.sensitivity }}`,
    });
  }
  add('button', 'reboot', { name: 'Reboot', device_class: 'restart', entity_category: 'config', command_topic: cmd('reboot'), payload_press: '{}' });
  for (const p of i.presets) {
    add('button', presetObjectId(p), { name: `Go to ${p}`, command_topic: cmd('ptz.preset.goto'), payload_press: JSON.stringify({ name: p }) });
  }
  for (const lens of i.lenses) {
    const prof = i.profiles[lens];
    if (prof && prof.names.length > 0) {
      add('select', `quality_${lens}`, {
        name: `Live quality (${LENS_LABEL[lens]})`,
        entity_category: 'config',
        command_topic: cmd('quality.set'),
        command_template: `{"lens":"${lens}","profile":"{{ value }}"}`,
        options: prof.names,
        state_topic: reported,
        // An empty setting means the board's default profile.
        value_template: `{{ value_json.config.lenses.${lens}.quality or '${prof.defaultProfile}' }}`,
      });
    }
    for (const t of DETECTION_TYPES) {
      add('binary_sensor', `${t}_${lens}`, {
        name: `${TYPE_LABEL[t]} (${LENS_LABEL[lens]})`,
        device_class: t === 'human' ? 'occupancy' : 'motion',
        state_topic: state,
        value_template: `{{ 'ON' if '${t}' in value_json.detection.lenses.${lens}.open else 'OFF' }}`,
      });
    }
    add('image', `snapshot_${lens}`, { name: `Snapshot (${LENS_LABEL[lens]})`, image_topic: pictureTopic(i.base, lens), content_type: 'image/jpeg' });
    add('button', `take_snapshot_${lens}`, { name: `Take snapshot (${LENS_LABEL[lens]})`, command_topic: bridge.snapshot[lens], payload_press: 'PRESS' });
  }
  const diag = { entity_category: 'diagnostic', state_class: 'measurement' };
  add('sensor', 'cpu', { name: 'CPU load', ...diag, unit_of_measurement: '%', state_topic: telemetry, value_template: '{{ value_json.health.cpu.loadPercent }}' });
  add('sensor', 'temperature', { name: 'Temperature', ...diag, device_class: 'temperature', unit_of_measurement: '°C', state_topic: telemetry, value_template: '{{ value_json.health.temperatureC }}' });
  add('sensor', 'card_free', { name: 'Card free', ...diag, device_class: 'data_size', unit_of_measurement: 'B', state_topic: telemetry, value_template: '{{ value_json.storage.freeBytes }}' });
  add('sensor', 'outbox_depth', { name: 'Event outbox depth', ...diag, state_topic: telemetry, value_template: '{{ value_json.cloud.outbox.depth }}' });
  add('sensor', 'link', { name: 'Network', entity_category: 'diagnostic', state_topic: state, value_template: '{{ value_json.network.phase }}' });
  add('device_trigger', 'reset_short_press', { automation_type: 'trigger', topic: events, type: 'button_short_press', subtype: 'reset', value_template: '{{ value_json.type }}', payload: 'reset.short-press' });
  for (const t of DETECTION_TYPES) {
    add('device_trigger', `detection_${t}_start`, { automation_type: 'trigger', topic: events, type: 'detection_start', subtype: t, value_template: '{{ value_json.type }}', payload: `${t}.start` });
  }
  add('update', 'firmware', {
    name: 'Firmware',
    device_class: 'firmware',
    entity_category: 'config',
    state_topic: state,
    value_template: '{{ value_json.release.version }}',
    // camd learns of a release only when the cloud sends firmware.update: no newer one is known here.
    latest_version_topic: state,
    latest_version_template: '{{ value_json.release.version }}',
  });
  return docs;
}
