import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SimView } from './server.js';

/**
 * `scripts/sim-view.sh [--port N] [--socket PATH]`: the live page of the simulated board on
 * 127.0.0.1. The socket is found the way camctl finds it: --socket, $CAMD_SOCKET, the board's
 * /run/camd/camd.sock, else the sim daemon's var/sim/run/camd.sock of this checkout.
 */
const { values } = parseArgs({
  options: { port: { type: 'string', default: '8090' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  strict: true,
});
if (values.help) {
  process.stdout.write('usage: scripts/sim-view.sh [--port N (0 = any free port)] [--socket PATH]\n');
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`sim-view: --port must be 0..65535, not ${values.port}\n`);
  process.exit(2);
}
const repo = resolve(import.meta.dirname, '../..');
const socket = values.socket ?? process.env.CAMD_SOCKET ?? (existsSync('/run/camd/camd.sock') ? '/run/camd/camd.sock' : join(repo, 'var/sim/run/camd.sock'));
const view = await SimView.start({ socket, port });
process.stdout.write(`sim-view: ${view.url} (daemon socket ${socket}; Ctrl-C stops)\n`);
const stop = (): void => void view.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
