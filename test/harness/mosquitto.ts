import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './boot.js';
import { patience } from './wait.js';

const run = promisify(execFile);

export const PRODUCTION_CONF = join(REPO, 'scripts/mosquitto/production.conf');
export const PRODUCTION_ACL = join(REPO, 'scripts/mosquitto/production.acl');

export interface Broker {
  port: number;
  /** mqtt://127.0.0.1:port or mqtts://localhost:port */
  url: string;
  dir: string;
  running(): boolean;
  /** Stops the broker (SIGTERM: it saves its persistence file); the port stays reserved for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config and persistence. */
  start(): Promise<void>;
  output(): string;
  /** Sends a signal to the running broker (SIGHUP: reload config, ACLs, certificates and CRLs). */
  signal(sig: NodeJS.Signals): void;
  dispose(): Promise<void>;
}

export interface TlsFiles {
  dir: string;
  ca: string;
  server: { cert: string; key: string };
  /** Client certificates by CN. */
  clients: Record<string, { cert: string; key: string }>;
  /** Client certificates by CN from an untrusted CA (and that CA). */
  rogue: Record<string, { cert: string; key: string }>;
  rogueCa: string;
}

/** A free TCP port on loopback (bound and released; the broker binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A CA, a server certificate for localhost/127.0.0.1 and client certificates (CN = the given
 * names), all made by the real `openssl` into `dir`. `rogue` client names get certificates from
 * a second, untrusted CA.
 */
export async function makeCerts(dir: string, clients: string[], rogue: string[] = []): Promise<TlsFiles> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = async (name: string): Promise<void> => {
    await run('openssl', ['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { cwd: dir });
  };
  const leaf = async (file: string, cn: string, caName: string, ext: string): Promise<{ cert: string; key: string }> => {
    writeFileSync(join(dir, `${file}.ext`), ext);
    await run('openssl', ['req', '-new', ...ec, '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${cn}`], { cwd: dir });
    await run('openssl', ['x509', '-req', '-in', `${file}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial',
      '-out', `${file}.crt`, '-days', '2', '-extfile', `${file}.ext`], { cwd: dir });
    return { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
  };
  await ca('ca');
  await ca('rogue-ca');
  const server = await leaf('server', 'localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const out: TlsFiles = { dir, ca: join(dir, 'ca.crt'), server, clients: {}, rogue: {}, rogueCa: join(dir, 'rogue-ca.crt') };
  for (const cn of clients) out.clients[cn] = await leaf(`client-${cn}`, cn, 'ca', 'extendedKeyUsage=clientAuth\n');
  for (const cn of rogue) out.rogue[cn] = await leaf(`rogue-${cn}`, cn, 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  return out;
}

/** Mosquitto started as root switches to the `mosquitto` user, which cannot read a 0700 temp dir. */
function rootUser(): string {
  return process.getuid?.() === 0 ? 'user root\n' : '';
}

/**
 * Starts a real mosquitto on a free loopback port. Plain (anonymous, for the sim-style tests) by
 * default; `conf` replaces the whole config (test/harness/pki.ts builds the production one). Persistence is on so a
 * stop()/start() keeps cloud-side persistent sessions, like a real broker restart.
 */
export async function startMosquitto(opts: { conf?: (port: number, dir: string) => string; tls?: boolean } = {}): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-mosq-'));
  const port = await freePort();
  const conf = opts.conf
    ? opts.conf(port, dir)
    : `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\nlog_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n${rootUser()}`;
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf);
  let proc: ChildProcess | undefined;
  let out = '';
  const start = async (): Promise<void> => {
    const p = spawn('mosquitto', ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const limit = patience(10_000);
    const deadline = Date.now() + limit;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`mosquitto exited (${p.exitCode}):\n${out}`);
      if (await canConnect(port)) return;
      if (Date.now() > deadline) throw new Error(`mosquitto not listening on ${port} within ${limit / 1000} s:\n${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: opts.tls ? `mqtts://localhost:${port}` : `mqtt://127.0.0.1:${port}`,
    dir,
    running: () => !!proc && proc.exitCode === null,
    stop,
    start,
    output: () => out,
    signal(sig) {
      if (!proc || proc.exitCode !== null) throw new Error(`mosquitto is not running (${sig})`);
      proc.kill(sig);
    },
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
