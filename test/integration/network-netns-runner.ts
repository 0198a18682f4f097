/**
 * Runs the network controller inside a test network namespace (started by
 * network-netns.test.ts with `ip netns exec`): the real sysfs/procfs link backend on the
 * namespace's eth0, real `ip route` metric changes, the real connectivity checker against the
 * broker in the other namespace, and the scripted Wi-Fi radio (association cannot exist here).
 * Prints one JSON line per published network summary on stdout; exits when stdin closes.
 */
import pino from 'pino';
import { systemClock } from '../../src/core/clock.js';
import { ConnectivityChecker } from '../../src/network/connectivity.js';
import { DEFAULT_TIMINGS, NetworkController } from '../../src/network/controller.js';
import { LinuxLinkBackend, onceCommand } from '../../src/network/link-linux.js';
import { SimNetwork } from '../../src/network/sim-net.js';
import { initialState, StateStore } from '../../src/state/store.js';
import { OnceRunner } from '../../src/supervisor/runner.js';

const broker = process.env.CAMD_TEST_BROKER ?? '';
const [host, port] = broker.split(':');
if (!host || !port) {
  process.stderr.write('CAMD_TEST_BROKER=host:port is required\n');
  process.exit(2);
}

const radio = new SimNetwork('eth0', 'wlan0');
radio.setAccessPoints([{ ssid: 'Home', psk: 'correct horse', quality: 65 }]);
const log = pino({ level: 'info', base: { component: 'network' } }, pino.destination(2));
let last = '';
const controller = new NetworkController({
  clock: systemClock,
  log,
  link: new LinuxLinkBackend({ run: onceCommand(new OnceRunner({ clock: systemClock, log, state: new StateStore(initialState(1, 'netns', Date.now())) })) }),
  wifi: radio.wifi,
  checker: new ConnectivityChecker(systemClock),
  wiredIface: 'eth0',
  wifiIface: 'wlan0',
  // Polling instead of the product's 2 s so the test is short; the demotion outlasts the test
  // so only a re-plug can end it.
  timings: { ...DEFAULT_TIMINGS, pollMs: 100, checkIntervalMs: 300, checkRetryMs: 300, checkTimeoutMs: 3_000, demoteBackoff: { baseMs: 600_000, maxMs: 600_000 } },
  preferWired: () => true,
  savedWifi: () => ({ ssid: 'Home', psk: 'correct horse' }),
  target: () => ({ host, port: Number(port), probe: 'mqtt' }),
  cloudConnected: () => undefined,
  graceMs: () => 30_000,
  onDecision: (summary) => {
    const { check, ...rest } = summary;
    // `at` changes on every check; the test wants changes of substance.
    const line = JSON.stringify({ ...rest, check: check ? { via: check.via, ok: check.ok, target: check.target, error: check.error } : null });
    if (line !== last) process.stdout.write(`${line}\n`);
    last = line;
  },
});
controller.start();
const quit = (): void => {
  controller.stop();
  process.exit(0);
};
process.stdin.on('end', quit);
process.stdin.resume();
process.on('SIGTERM', quit);
