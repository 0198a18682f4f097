import { describe, expect, it } from 'vitest';
import { bridgeTopics, discoveryDocs, pictureTopic, presetObjectId, type DiscoveryInput } from '../../../src/homeassistant/discovery.js';

/**
 * The discovery documents (src/homeassistant/discovery.ts) without a broker: unique ids stable
 * across calls (a restart) and independent of order, every topic under the base or the prefix,
 * one document per entity at `<prefix>/<component>/<serial>/<object id>/config`.
 */
const INPUT: DiscoveryInput = {
  prefix: 'homeassistant',
  base: 'camd/CAM1',
  serial: 'CAM1',
  model: 'sim',
  deviceName: 'Porch',
  swVersion: '1.2.3',
  lenses: ['wide', 'ptz'],
  profiles: { wide: { names: ['hd', 'sd'], defaultProfile: 'hd' }, ptz: { names: ['hd'], defaultProfile: 'hd' } },
  presets: ['Front door', 'Gate'],
};
const ids = (docs: ReturnType<typeof discoveryDocs>): string[] => docs.map((d) => (typeof d.config.unique_id === 'string' ? d.config.unique_id : d.topic));

describe('Home Assistant discovery documents', () => {
  it('one document per entity, at <prefix>/<component>/<serial>/<object id>/config, ids unique', () => {
    const docs = discoveryDocs(INPUT);
    // 1 light, 1 siren, 2 + 3 switches, 3 numbers, 1 + 2 + 2 buttons, 2 selects, 6 binary sensors, 5 sensors, 2 images, 4 triggers, 1 update
    expect(docs).toHaveLength(35);
    for (const d of docs) {
      expect(d.topic).toBe(`homeassistant/${d.component}/CAM1/${d.objectId}/config`);
      expect(d.objectId).toMatch(/^[a-z0-9_]+$/);
    }
    expect(new Set(docs.map((d) => d.topic)).size).toBe(docs.length);
    const withIds = docs.filter((d) => d.component !== 'device_trigger');
    expect(new Set(withIds.map((d) => d.config.unique_id)).size).toBe(withIds.length);
    for (const d of withIds) expect(d.config.unique_id).toBe(`CAM1_${d.objectId}`);
  });

  it('unique ids are stable: the same input gives the same ids, a preset keeps its id when others change or move', () => {
    expect(ids(discoveryDocs(INPUT))).toEqual(ids(discoveryDocs({ ...INPUT })));
    const reordered = discoveryDocs({ ...INPUT, presets: ['Gate', 'Front door'] });
    expect(new Set(ids(reordered))).toEqual(new Set(ids(discoveryDocs(INPUT))));
    const fewer = discoveryDocs({ ...INPUT, presets: ['Gate'] });
    expect(ids(fewer)).toContain(`CAM1_${presetObjectId('Gate')}`);
    expect(ids(fewer)).not.toContain(`CAM1_${presetObjectId('Front door')}`);
    expect(presetObjectId('Front door')).toBe(presetObjectId('Front door'));
    expect(presetObjectId('Front door')).not.toBe(presetObjectId('front door'));
    // The device name and version are labels, not identity.
    expect(ids(discoveryDocs({ ...INPUT, deviceName: 'Garage', swVersion: '2.0.0' }))).toEqual(ids(discoveryDocs(INPUT)));
  });

  it('every topic in every document lies under the base topic or the discovery prefix', () => {
    for (const prefix of ['homeassistant', 'ha_test']) {
      for (const d of discoveryDocs({ ...INPUT, prefix })) {
        expect(d.topic.startsWith(`${prefix}/`)).toBe(true);
        const topics = Object.entries(d.config).filter(([k]) => /(^|_)topic$/.test(k));
        expect(topics.length, d.topic).toBeGreaterThan(0);
        for (const [k, v] of topics) expect(String(v), `${d.topic} ${k}`).toMatch(/^camd\/CAM1\//);
      }
    }
  });

  it('commands go to the command table (cmd/<name>) or the two bridges; availability is the cloud link\'s', () => {
    const docs = discoveryDocs(INPUT);
    const bridge = bridgeTopics(INPUT.base, INPUT.lenses);
    const allowed = new Set([bridge.alarm, ...Object.values(bridge.snapshot)]);
    for (const d of docs) {
      for (const k of ['command_topic', 'brightness_command_topic'] as const) {
        const t = d.config[k];
        if (typeof t === 'string') expect(t.startsWith('camd/CAM1/cmd/') || allowed.has(t), `${d.topic} ${k} ${t}`).toBe(true);
      }
      if (d.component !== 'device_trigger') expect(d.config.availability_topic).toBe('camd/CAM1/availability');
      expect(d.config.device).toEqual({ identifiers: ['CAM1'], name: 'Porch', manufacturer: 'camd', model: 'sim', serial_number: 'CAM1', sw_version: '1.2.3' });
    }
    const image = docs.filter((d) => d.component === 'image').map((d) => d.config.image_topic);
    expect(image).toEqual([pictureTopic('camd/CAM1', 'wide'), pictureTopic('camd/CAM1', 'ptz')]);
    // A lens without profiles has no quality select.
    expect(discoveryDocs({ ...INPUT, profiles: { wide: INPUT.profiles.wide } }).filter((d) => d.component === 'select').map((d) => d.objectId)).toEqual(['quality_wide']);
  });

  it('removal: what the service publishes to remove a document is an empty retained payload on the same topic', () => {
    // The service (service.ts) removes by topic; the topics of a smaller set are a subset of the bigger one's,
    // so what is no longer wanted is exactly the difference.
    const all = new Set(discoveryDocs(INPUT).map((d) => d.topic));
    const after = new Set(discoveryDocs({ ...INPUT, presets: [] }).map((d) => d.topic));
    const gone = [...all].filter((t) => !after.has(t));
    expect(gone.sort()).toEqual([`homeassistant/button/CAM1/${presetObjectId('Front door')}/config`, `homeassistant/button/CAM1/${presetObjectId('Gate')}/config`].sort());
    expect([...after].every((t) => all.has(t))).toBe(true);
  });
});
