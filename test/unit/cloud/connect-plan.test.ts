import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { planConnection, redactUrl } from '../../../src/cloud/connect-plan.js';
import { topicsFor } from '../../../src/cloud/topics.js';

const topics = topicsFor('camd', 'CAM123456789');
const dir = mkdtempSync(join(tmpdir(), 'camd-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const cloud = (over: Record<string, unknown>) => ({ ...defaultConfig().cloud, ...over });

describe('connection plan', () => {
  it('refuses plaintext unless allowPlaintext is set', async () => {
    const refused = await planConnection(cloud({ url: 'mqtt://127.0.0.1:1883' }), undefined, 'CAM123456789', topics);
    expect(refused).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/plaintext .* refused.*mqtts/) });
    const ok = await planConnection(cloud({ url: 'mqtt://127.0.0.1:1883', allowPlaintext: true }), { username: 'u', password: 'p' }, 'CAM123456789', topics);
    expect(ok).toMatchObject({ kind: 'ok', url: 'mqtt://127.0.0.1:1883', options: { username: 'u', password: 'p', protocolVersion: 5, clean: true, reconnectPeriod: 0 } });
    if (ok.kind === 'ok') expect(ok.summary).not.toContain('p@');
  });

  it('TLS: verifies the server, presents the client certificate, sets the will and no broker session', async () => {
    const plan = await planConnection(cloud({ url: 'mqtts://broker.example.com' }), { caFile: file('ca.pem', 'CA'), certFile: file('c.pem', 'CERT'), keyFile: file('k.pem', 'KEY') }, 'CAM123456789', topics);
    expect(plan.kind).toBe('ok');
    if (plan.kind !== 'ok') return;
    expect(plan.url).toBe('mqtts://broker.example.com:8883');
    expect(plan.options).toMatchObject({
      rejectUnauthorized: true,
      servername: 'broker.example.com',
      clientId: 'CAM123456789',
      will: { topic: 'camd/CAM123456789/availability', qos: 1, retain: true },
      properties: { sessionExpiryInterval: 0 },
      keepalive: 30,
    });
    expect(String(plan.options.ca)).toBe('CA');
    expect(String(plan.options.cert)).toBe('CERT');
    expect(String(plan.options.key)).toBe('KEY');
    expect(String(plan.options.will!.payload)).toBe('offline');
    expect(plan.summary).not.toMatch(/KEY|CERT/);
  });

  it('unreadable or incomplete credentials are errors that name the field (retried later)', async () => {
    await expect(planConnection(cloud({}), { caFile: join(dir, 'missing.pem') }, 'X', topics)).rejects.toMatchObject({ code: 'unavailable', path: 'mqtt.caFile' });
    await expect(planConnection(cloud({}), { certFile: file('c2.pem', 'C') }, 'X', topics)).rejects.toMatchObject({ path: 'mqtt.certFile' });
  });

  it('never connects with, or shows, credentials written into the URL', async () => {
    const plan = await planConnection(cloud({ url: 'mqtt://user:secret@127.0.0.1:1883', allowPlaintext: true }), undefined, 'X', topics);
    expect(plan).toMatchObject({ kind: 'ok', url: 'mqtt://127.0.0.1:1883' });
    if (plan.kind === 'ok') expect(JSON.stringify(plan.summary)).not.toContain('secret');
    expect(redactUrl('mqtts://user:secret@host:8883')).toBe('mqtts://host:8883');
    expect(redactUrl('mqtts://host:8883')).toBe('mqtts://host:8883');
  });
});
