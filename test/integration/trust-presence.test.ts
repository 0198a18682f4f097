import { readFileSync, writeFileSync } from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NetworkService } from '../../src/network/service.js';
import { PRESENCE_WINDOW_MS, resetService } from '../../src/reset/service.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import type { Context } from '../../src/supervisor/service.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { waitFor } from '../harness/daemon.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';

vi.setConfig(PROCESS_TIMEOUTS);

/**
 * Physical presence (README "Who may do what"): the cloud may re-provision a bound camera only
 * after a short RESET press, and replacing a working Wi-Fi is a trial — the old network stays
 * until the new one works.
 */
const OWNER = { ssid: 'OwnerNet', psk: 'owner-pass-1' };
let booted: BootedSim | undefined;
let dir: string;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function boot(secrets: Record<string, unknown>): Promise<{ b: BootedSim; events: CameraEvent[]; secretsText: () => string }> {
  dir = mkdtempSync(join(tmpdir(), 'camd-presence-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'data', 'secrets.json'), JSON.stringify(secrets), { mode: 0o600 });
  const network = (ctx: Context) => new NetworkService(ctx, { timings: { pollMs: 200, checkIntervalMs: 200, checkRetryMs: 200, checkTimeoutMs: 2_000 } });
  booted = await bootSim({ dir, services: [coreCommands, resetService, network] });
  const b = booted;
  const events: CameraEvent[] = [];
  b.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  return { b, events, secretsText: () => readFileSync(join(dir, 'data', 'secrets.json'), 'utf8') };
}

const cloud = (b: BootedSim, cmd: string, args: Record<string, unknown>) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
const local = (b: BootedSim, cmd: string, args: Record<string, unknown>) => b.sup.commands.execute(cmd, args, { source: 'local' });

describe('physical presence and the Wi-Fi trial', () => {
  it('a bound camera refuses cloud re-provisioning until RESET is pressed briefly; the window closes again', async () => {
    const { b, events, secretsText } = await boot({ wifi: OWNER, binding: { token: 'owner-binding-token', boundAt: 1 } });
    await local(b, 'sim.wifi', { accessPoints: [OWNER, { ssid: 'NewNet', psk: 'new-pass-12' }] });
    const before = secretsText();
    const refused = await cloud(b, 'network.provision', { ssid: 'NewNet', psk: 'new-pass-12', bindingToken: 'other-binding' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(!refused.ok && refused.error.message).toMatch(/physical presence/);
    expect(secretsText()).toBe(before);
    expect(events.filter((e) => e.kind === 'security')).toEqual([expect.objectContaining({ type: 'request.forbidden', data: expect.objectContaining({ command: 'network.provision', source: 'cloud' }) })]);
    // factory-reset is presence-class too.
    expect(await cloud(b, 'factory-reset', {})).toMatchObject({ ok: false, error: { code: 'forbidden' } });

    // Someone at the camera presses RESET briefly: the presence window opens for PRESENCE_WINDOW_MS.
    const t0 = Date.now();
    await local(b, 'sim.press', { button: 'reset', ms: 200 });
    await waitFor(() => (b.sup.state.get().presence.until ?? 0) > 0, 10_000);
    const until = b.sup.state.get().presence.until!;
    expect(until - t0).toBeGreaterThanOrEqual(PRESENCE_WINDOW_MS);
    expect(until - Date.now()).toBeLessThanOrEqual(PRESENCE_WINDOW_MS);
    expect(events.some((e) => e.type === 'reset.short-press')).toBe(true);
    const ok = await cloud(b, 'network.provision', { ssid: 'NewNet', psk: 'new-pass-12', bindingToken: 'other-binding' });
    expect(ok).toMatchObject({ ok: true, result: { ssid: 'NewNet' } });
    expect(b.sup.secrets.get().wifi).toEqual({ ssid: 'NewNet', psk: 'new-pass-12' });
    await waitFor(() => b.sup.state.get().network.wifi?.ssid === 'NewNet', 20_000);

    // The window is time-bound: once it has passed, the cloud is refused again.
    b.sup.state.set('presence', { until: Date.now() - 1 });
    expect(await cloud(b, 'network.provision', { ssid: 'OwnerNet', psk: 'owner-pass-1', bindingToken: 'owner-binding-token' })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(b.sup.secrets.get().wifi?.ssid).toBe('NewNet');
  });

  it('replacing a working Wi-Fi joins the new network first: a wrong password changes nothing and the camera stays on the old one', async () => {
    const { b, secretsText } = await boot({ wifi: OWNER, binding: { token: 'owner-binding-token', boundAt: 1 } });
    await local(b, 'sim.wifi', { accessPoints: [OWNER, { ssid: 'NewNet', psk: 'new-pass-12' }] });
    await local(b, 'sim.link', { iface: 'eth0', carrier: false });
    await waitFor(() => b.sup.state.get().network.wifi?.ssid === 'OwnerNet', 20_000);
    const before = secretsText();
    for (const [ssid, psk] of [['NewNet', 'wrong-pass-1'], ['FarAwayNet', 'far-pass-12']] as const) {
      const r = await local(b, 'network.provision', { ssid, psk, bindingToken: 'owner-binding-token' });
      expect(r, ssid).toMatchObject({ ok: false, error: { code: 'failed', path: 'ssid' } });
      expect(!r.ok && r.error.message).toMatch(/stays on "OwnerNet"/);
      expect(secretsText()).toBe(before);
      await waitFor(() => b.sup.state.get().network.wifi?.ssid === 'OwnerNet', 20_000);
    }
  });

  it('an unbound camera (in setup) takes network.provision from the cloud: the wired-first flow', async () => {
    const { b } = await boot({});
    await local(b, 'sim.wifi', { accessPoints: [{ ssid: 'NewNet', psk: 'new-pass-12' }] });
    const r = await cloud(b, 'network.provision', { ssid: 'NewNet', psk: 'new-pass-12', bindingToken: 'first-binding' });
    expect(r).toMatchObject({ ok: true });
    expect(b.sup.secrets.get().binding?.token).toBe('first-binding');
    // Now bound: the next one needs presence.
    expect(await cloud(b, 'network.provision', { ssid: 'NewNet', psk: 'new-pass-12', bindingToken: 'second' })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });
});
