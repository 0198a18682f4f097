import { describe, expect, it } from 'vitest';
import { authorizeSettings, settingRule, SETTINGS_ACCESS } from '../../../src/config/access.js';
import { ConfigSchema, defaultConfig } from '../../../src/config/schema.js';
import { isPlainObject } from '../../../src/config/merge.js';
import { CamdError } from '../../../src/core/errors.js';

function leaves(v: unknown, prefix = ''): string[] {
  if (!isPlainObject(v)) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => leaves(x, prefix ? `${prefix}.${k}` : k));
}

const no = () => false;
const yes = () => true;

describe('who may change which setting', () => {
  it('every setting of the schema is covered by an explicit rule, and every rule names a setting', () => {
    const all = leaves(defaultConfig());
    expect(all.length).toBeGreaterThan(50);
    for (const p of all) expect(settingRule(p), p).toBeDefined();
    const top = Object.keys(ConfigSchema.shape);
    for (const r of SETTINGS_ACCESS) expect(top).toContain(r.path.split('.')[0]);
    for (const t of top) expect(SETTINGS_ACCESS.some((r) => r.path === t), t).toBe(true);
  });

  it('the cloud link and the live URL policy are local only; operating the camera is cloud', () => {
    for (const p of ['cloud.url', 'cloud.allowPlaintext', 'cloud.topicPrefix', 'live.allowPlaintext', 'live.allowLocalTargets', 'version']) {
      expect(settingRule(p)?.access, p).toBe('local');
    }
    for (const p of ['detection.human.sensitivity', 'indicator.enabled', 'capture.sleep', 'lights.spotlightMaxSeconds', 'recording.audio', 'ptz.presets']) {
      expect(settingRule(p)?.access, p).toBe('cloud');
    }
  });

  it('refuses the first forbidden path with its rule, whatever else the patch changes', () => {
    const attempt = (paths: string[], source: 'cloud' | 'local', presence = no) => {
      try {
        authorizeSettings(paths, source, presence);
        return null;
      } catch (err) {
        return err as CamdError;
      }
    };
    const err = attempt(['audio.volume', 'cloud.url'], 'cloud');
    expect(err).toBeInstanceOf(CamdError);
    expect(err?.code).toBe('forbidden');
    expect(err?.path).toBe('cloud.url');
    expect(err?.message).toMatch(/cloud\.url: local only/);
    // Presence does not open local-only settings to the cloud; the local shell may change anything.
    expect(attempt(['cloud.url'], 'cloud', yes)?.code).toBe('forbidden');
    expect(attempt(['cloud.url', 'live.allowLocalTargets'], 'local')).toBeNull();
    expect(attempt(['audio.volume', 'indicator.enabled'], 'cloud')).toBeNull();
    // A path no rule covers fails closed for the cloud.
    expect(attempt(['nonexistent.key'], 'cloud')?.code).toBe('forbidden');
  });
});
