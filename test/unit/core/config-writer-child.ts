/**
 * Child process for the kill -9 test (atomic-temps.test.ts): loads the config and secrets stores
 * of the data dir in argv[2] the way the daemon does at boot, says "ready", then changes the
 * config and the secrets as fast as it can until it is killed. Every change goes through the real
 * ConfigStore.patch / SecretsStore.update, i.e. writeFileAtomic.
 */
import { join } from 'node:path';
import pino from 'pino';
import { ConfigStore } from '../../../src/config/store.js';
import { SecretsStore } from '../../../src/config/secrets.js';

const dataDir = process.argv[2]!;
const log = pino({ level: 'silent' });
const config = new ConfigStore(join(dataDir, 'config.json'), log);
const secrets = new SecretsStore(join(dataDir, 'secrets.json'), log);
await config.load();
await secrets.load();
process.stdout.write('ready\n');
for (let n = 0; ; n++) {
  await config.patch({ device: { name: `cam-${process.pid}-${n}` }, detection: { human: { sensitivity: (n % 100) + 1 } } }, 'test');
  await secrets.update((s) => ({ ...s, wifi: { ssid: `net-${n}`, psk: `passphrase-${n}-${'x'.repeat(n % 40)}` } }));
}
