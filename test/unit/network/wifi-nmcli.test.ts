import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classify, NodeWifiBackend } from '../../../src/network/wifi-nmcli.js';

/**
 * The node-wifi backend against a fake `nmcli` first on PATH (node-wifi runs nmcli by name): it
 * records its argv and answers like NetworkManager does (terse listings, `Error: …` on stderr
 * with a non-zero exit). What matters here: nmcli's words reach the policy, the passphrase never
 * appears in an error, and this backend offers no join (node-wifi's puts the PSK on argv).
 */
const dir = mkdtempSync(join(tmpdir(), 'camd-nmcli-'));
const argvLog = join(dir, 'argv');
const mode = join(dir, 'mode');
writeFileSync(
  join(dir, 'nmcli'),
  `#!/bin/sh
printf '%s\\n' "$*" >> '${argvLog}'
case "$*" in
  *"wifi list"*)
    if [ "$(cat '${mode}')" = fail ]; then echo 'Error: NetworkManager is not running.' >&2; exit 8; fi
    echo 'no:Home:AA\\:BB\\:CC\\:DD\\:EE\\:01:Infra:6:2437 MHz:72:WPA2:(none):pair_ccmp group_ccmp psk:wlan0'
    echo 'no:Cafe:AA\\:BB\\:CC\\:DD\\:EE\\:03:Infra:1:2412 MHz:30:(none):(none):(none):wlan0'
    ;;
  *) exit 0 ;;
esac
`,
);
chmodSync(join(dir, 'nmcli'), 0o755);
const calls = (): string[] => readFileSync(argvLog, 'utf8').trim().split('\n');

let backend: NodeWifiBackend;
let path: string | undefined;
beforeAll(() => {
  path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  backend = new NodeWifiBackend('wlan0');
});
afterAll(() => {
  process.env.PATH = path;
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  writeFileSync(argvLog, '');
  writeFileSync(mode, 'ok');
});

describe('Wi-Fi backend (node-wifi → nmcli)', () => {
  it('scans through nmcli on the board interface', async () => {
    const seen = await backend.scan();
    expect(seen.map((n) => n.ssid)).toEqual(['Home', 'Cafe']);
    expect(calls().some((c) => c.includes('wifi list'))).toBe(true);
  });

  it('has no join: node-wifi\'s connect (the PSK on nmcli\'s command line) is unreachable from the daemon', () => {
    // Joins go over D-Bus (wifi-nm-dbus.ts; test/integration/network-dbus-*.test.ts).
    expect('connect' in backend).toBe(false);
  });

  it("nmcli's errors reach the caller in nmcli's words", async () => {
    writeFileSync(mode, 'fail');
    await expect(backend.scan()).rejects.toMatchObject({ name: 'WifiError', kind: 'failed', message: 'NetworkManager is not running.' });
  });

  it('classify drops node-wifi\'s "Command failed" line (it quotes the command) and scrubs the secret anywhere', () => {
    const e = Object.assign(new Error('Command failed: nmcli -w 10 device wifi connect Home password hunter22 ifname wlan0\nError: bad hunter22'), {});
    expect(classify(e, 'hunter22').message).toBe('bad ***');
    expect(classify(new Error('Command failed: nmcli … password hunter22'), 'hunter22').message).toBe('nmcli failed');
    expect(classify(new Error('Error: No network with SSID "Home" found.')).kind).toBe('not-found');
  });
});
