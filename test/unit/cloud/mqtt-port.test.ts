import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { matches, MqttPortImpl, type PortSession } from '../../../src/cloud/mqtt-port.js';
import type { InboundMessage } from '../../../src/cloud/inbound.js';
import { topicsFor } from '../../../src/cloud/topics.js';

/**
 * ctx.ports.mqtt: the fence around the cloud's one session (only `<base>/…` outside the cloud's own
 * sub-topics, and the discovery prefix) and the retain-as-published choice per subscription.
 */
function setup(prefix = 'homeassistant') {
  const subscribed: { filters: string[]; rap: boolean | undefined }[] = [];
  const published: string[] = [];
  let connected = true;
  let p = prefix;
  const session: PortSession = {
    get connected() {
      return connected;
    },
    publish: async (topic) => void published.push(topic),
    subscribe: async (filters, opts) => {
      subscribed.push({ filters, rap: opts?.rap });
      return filters.map((topic) => ({ topic, qos: 1 }));
    },
    unsubscribe: async () => undefined,
  };
  const port = new MqttPortImpl({ topics: topicsFor('camd', 'CAM1'), serial: 'CAM1', model: 'sim', session, log: pino({ level: 'silent' }), discoveryPrefix: () => p });
  return { port, subscribed, published, setConnected: (c: boolean) => (connected = c), setPrefix: (x: string) => (p = x) };
}

describe('MQTT port', () => {
  it('allows the base (not the cloud-owned sub-topics) and the discovery prefix, nothing else', async () => {
    const { port, published } = setup();
    for (const t of ['camd/CAM1/snapshot/wide', 'camd/CAM1/ha/alarm', 'homeassistant/light/CAM1/spotlight/config']) await port.publish(t, 'x', { qos: 0, retain: false });
    expect(published).toHaveLength(3);
    for (const t of ['camd/CAM1/cmd/reboot', 'camd/CAM1/state', 'camd/CAM1/events', 'camd/CAM1/availability', 'camd/CAM1/config/desired', 'camd/CAM1/reply/x', 'camd/CAM2/snapshot/wide', 'zigbee2mqtt/x', 'homeassistant', 'camd/CAM1/+/x', 'homeassistant/#']) {
      await expect(port.publish(t, 'x', { qos: 0, retain: false }), t).rejects.toMatchObject({ code: 'forbidden' });
    }
    expect(() => port.subscribe('camd/CAM1/#', () => undefined)).toThrow(/outside/);
    expect(() => port.subscribe('#', () => undefined)).toThrow(/outside/);
  });

  it('a changed prefix: the old one stays allowed (its configs can still be removed)', async () => {
    const { port, published, setPrefix } = setup();
    setPrefix('ha2');
    await port.publish('ha2/switch/CAM1/x/config', '', { qos: 1, retain: true });
    await port.publish('homeassistant/switch/CAM1/x/config', '', { qos: 1, retain: true });
    expect(published).toHaveLength(2);
  });

  it('offline: a publish rejects with unavailable', async () => {
    const { port, setConnected } = setup();
    setConnected(false);
    await expect(port.publish('camd/CAM1/snapshot/wide', 'x', { qos: 0, retain: false })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('subscriptions: retain-as-published by default, per filter; all again after a reconnect; dispatch by filter', async () => {
    const { port, subscribed } = setup();
    const got: string[] = [];
    port.subscribe('camd/CAM1/ha/alarm', (m) => void got.push(`alarm ${String(m.retain)}`));
    port.subscribe('homeassistant/status', (m) => void got.push(`status ${m.payload.toString()}`), { retainAsPublished: false });
    expect(() => port.subscribe('homeassistant/status', () => undefined)).toThrow(/already subscribed/);
    await Promise.resolve();
    expect(subscribed).toEqual([
      { filters: ['camd/CAM1/ha/alarm'], rap: true },
      { filters: ['homeassistant/status'], rap: false },
    ]);
    subscribed.length = 0;
    await port.afterConnect();
    expect(subscribed).toEqual([
      { filters: ['camd/CAM1/ha/alarm'], rap: true },
      { filters: ['homeassistant/status'], rap: false },
    ]);
    const msg = (topic: string, payload: string, retain = false): InboundMessage => ({ topic, payload: Buffer.from(payload), retain });
    expect(port.dispatch(msg('camd/CAM1/ha/alarm', 'ON', true))).toBe(true);
    expect(port.dispatch(msg('homeassistant/status', 'online'))).toBe(true);
    expect(port.dispatch(msg('camd/CAM1/cmd/reboot', '{}'))).toBe(false);
    expect(got).toEqual(['alarm true', 'status online']);
  });

  it('topic filter matching', () => {
    expect(matches('a/+/c', 'a/b/c')).toBe(true);
    expect(matches('a/#', 'a/b/c')).toBe(true);
    expect(matches('a/+', 'a/b/c')).toBe(false);
    expect(matches('a/b', 'a/b/c')).toBe(false);
    expect(matches('a/b/c', 'a/b')).toBe(false);
  });
});
