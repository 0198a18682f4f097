import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type IConnackPacket } from 'mqtt';
import { REPO } from './boot.js';
import { freePort, PRODUCTION_CONF, startMosquitto, type Broker, type TlsFiles } from './mosquitto.js';
import { patience, waitUntil } from './wait.js';

/**
 * The production broker's certificate authorities, made the way an operator makes them: with
 * scripts/mosquitto/camd-ca.sh (openssl ca + camd-ca.cnf), plus the broker's own server
 * certificate from a third, plain openssl CA (the devices' caFile). EC P-256 throughout: a key
 * costs milliseconds.
 */

const run = promisify(execFile);
export const MOSQUITTO_DIR = join(REPO, 'scripts/mosquitto');
export const CA_SCRIPT = join(MOSQUITTO_DIR, 'camd-ca.sh');
export const CA_CNF = join(MOSQUITTO_DIR, 'camd-ca.cnf');
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export type CaKind = 'device' | 'backend';
export interface CaDir {
  kind: CaKind;
  dir: string;
  /** The CA certificate (the broker listener's cafile). */
  cert: string;
  /** The CA's current CRL, as camd-ca.sh last wrote it (not yet installed on the broker). */
  crl: string;
}
export interface Leaf {
  cn: string;
  cert: string;
  key: string;
}

/** Runs camd-ca.sh; rejects (with its stderr) when it exits non-zero. */
export async function caScript(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(CA_SCRIPT, args);
}

export async function initCa(dir: string, kind: CaKind, name = `camd ${kind} CA (test)`): Promise<CaDir> {
  await caScript(['init', dir, kind, name]);
  return { kind, dir, cert: join(dir, 'ca.crt'), crl: join(dir, 'crl.pem') };
}

/** A fresh key and CSR for `cn` (openssl's subject syntax: a '/' in a CN is written '\/'). */
async function request(dir: string, file: string, subject: string): Promise<{ key: string; csr: string }> {
  const key = join(dir, `${file}.key`);
  const csr = join(dir, `${file}.csr`);
  await run('openssl', ['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', subject]);
  return { key, csr };
}

/** A client certificate for `cn`, issued by camd-ca.sh (which checks the CN). */
export async function issue(ca: CaDir, cn: string, file = `${ca.kind}-${cn}`): Promise<Leaf> {
  const { key, csr } = await request(ca.dir, file, `/CN=${cn}`);
  const cert = join(ca.dir, `${file}.crt`);
  await caScript(['issue', ca.dir, csr, cert]);
  return { cn, cert, key };
}

/**
 * What a misused or compromised CA could sign: `openssl ca` with the shipped config, bypassing
 * camd-ca.sh's CN check. For showing what the broker itself does with such a certificate.
 */
export async function issueUnchecked(ca: CaDir, cn: string, file: string): Promise<Leaf> {
  const { key, csr } = await request(ca.dir, file, `/CN=${cn.replaceAll('/', '\\/')}`);
  const cert = join(ca.dir, `${file}.crt`);
  await run('openssl', ['ca', '-batch', '-config', CA_CNF, '-extensions', 'client_cert', '-notext', '-in', csr, '-out', cert], {
    env: { ...process.env, CAMD_CA_DIR: ca.dir },
  });
  return { cn, cert, key };
}

export async function revoke(ca: CaDir, leaf: Leaf, reason = 'keyCompromise'): Promise<void> {
  await caScript(['revoke', ca.dir, leaf.cert, reason]);
}

/** A plain self-signed CA and one leaf under it (the server certificate, or an untrusted client). */
async function plainCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

async function plainLeaf(dir: string, file: string, cn: string, ca: { cert: string; key: string }, ext: string): Promise<Leaf> {
  const { key, csr } = await request(dir, file, `/CN=${cn}`);
  const cert = join(dir, `${file}.crt`);
  writeFileSync(join(dir, `${file}.ext`), ext);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', join(dir, `${file}.ext`)]);
  return { cn, cert, key };
}

export interface ProductionPki {
  dir: string;
  /** The CA of the broker's server certificate: the devices' and the backend's caFile. */
  serverCa: string;
  server: Leaf;
  deviceCa: CaDir;
  backendCa: CaDir;
  /** Device certificates by CN (= serial), from the device CA. */
  devices: Record<string, Leaf>;
  /** Backend certificates by CN, from the backend CA. */
  backends: Record<string, Leaf>;
  /** Client certificates by CN from a CA the broker does not trust, and that CA. */
  untrusted: Record<string, Leaf>;
  untrustedCa: string;
}

export async function makeProductionPki(opts: { devices: string[]; backends?: string[]; untrusted?: string[] }): Promise<ProductionPki> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-pki-'));
  const serverCa = await plainCa(dir, 'server-ca');
  const server = await plainLeaf(dir, 'server', 'localhost', serverCa, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const untrustedCa = await plainCa(dir, 'untrusted-ca');
  const deviceCa = await initCa(join(dir, 'device-ca'), 'device');
  const backendCa = await initCa(join(dir, 'backend-ca'), 'backend');
  const pki: ProductionPki = { dir, serverCa: serverCa.cert, server, deviceCa, backendCa, devices: {}, backends: {}, untrusted: {}, untrustedCa: untrustedCa.cert };
  for (const cn of opts.devices) pki.devices[cn] = await issue(deviceCa, cn);
  for (const cn of opts.backends ?? ['camd-cloud']) pki.backends[cn] = await issue(backendCa, cn);
  for (const cn of opts.untrusted ?? []) pki.untrusted[cn] = await plainLeaf(dir, `untrusted-${cn}`, cn, untrustedCa, 'extendedKeyUsage=clientAuth\n');
  return pki;
}

/**
 * scripts/mosquitto/production.conf as shipped, with only what a test must change: the two
 * listeners on loopback ports, /etc/mosquitto/camd/ → `etc`, persistence and logging. Throws if
 * a line it rewrites is missing, so a changed config cannot silently run untested.
 */
export function productionConf(ports: { device: number; backend: number }, etc: string, dataDir: string): string {
  let text = readFileSync(PRODUCTION_CONF, 'utf8');
  const swap = (re: RegExp, to: string, what: string): void => {
    if (!re.test(text)) throw new Error(`production.conf: ${what} not found (${re})`);
    text = text.replace(re, to);
  };
  swap(/^listener 8883$/m, `listener ${ports.device} 127.0.0.1`, 'device listener');
  swap(/^listener 8884$/m, `listener ${ports.backend} 127.0.0.1`, 'backend listener');
  swap(/\/etc\/mosquitto\/camd\//g, `${etc}/`, 'certificate/ACL paths');
  swap(/^persistence_location .*$/m, `persistence_location ${dataDir}/`, 'persistence_location');
  // A file, not stdout: mosquitto block-buffers stdout into a pipe, a file it writes line by line.
  swap(/^log_dest syslog$/m, `log_dest file ${dataDir}/mosquitto.log`, 'log_dest');
  // Mosquitto started as root switches to the `mosquitto` user, which cannot read a 0700 temp dir.
  return `${text}\n${process.getuid?.() === 0 ? 'user root\n' : ''}`;
}

/** The files production.conf expects under /etc/mosquitto/camd/. */
const ETC_FILES = (pki: ProductionPki): Record<string, string> => ({
  'device-ca.crt': pki.deviceCa.cert,
  'device-ca.crl': pki.deviceCa.crl,
  'backend-ca.crt': pki.backendCa.cert,
  'backend-ca.crl': pki.backendCa.crl,
  'server.crt': pki.server.cert,
  'server.key': pki.server.key,
  'production.acl': join(MOSQUITTO_DIR, 'production.acl'),
  'production-backend.acl': join(MOSQUITTO_DIR, 'production-backend.acl'),
});

export interface ProductionBroker {
  broker: Broker;
  pki: ProductionPki;
  /** mqtts://localhost:<device listener> */
  deviceUrl: string;
  /** mqtts://localhost:<backend listener> */
  backendUrl: string;
  /** The broker's /etc/mosquitto/camd/ in this test. */
  etc: string;
  /** The broker's log so far (written line by line, unlike broker.output()). */
  log(): string;
  /** TLS options for a certificate (no reconnects: a refusal stays a refusal). */
  tlsOpts(leaf: Leaf, extra?: IClientOptions): IClientOptions;
  /**
   * The operator's procedure after camd-ca.sh revoke/crl: copy the CA's CRL next to the installed
   * one, rename it over it (atomic), SIGHUP. Resolves once the broker has logged the reload; it
   * handles connections one at a time, so every connection accepted after that sees the new CRL.
   */
  installCrl(kind: CaKind, from?: string): Promise<void>;
  /** The same view as makeCerts() (test/harness/mosquitto.ts) for tests written against it. */
  tls: TlsFiles;
  dispose(): Promise<void>;
}

export async function startProductionBroker(pki: ProductionPki): Promise<ProductionBroker> {
  const backendPort = await freePort();
  let etc = '';
  const broker = await startMosquitto({
    tls: true,
    conf: (port, dir) => {
      etc = join(dir, 'etc');
      mkdirSync(etc, { recursive: true });
      for (const [name, from] of Object.entries(ETC_FILES(pki))) copyFileSync(from, join(etc, name));
      return productionConf({ device: port, backend: backendPort }, etc, dir);
    },
  });
  const log = (): string => {
    try {
      return readFileSync(join(broker.dir, 'mosquitto.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const reloads = (): number => log().split('Reloading config.').length - 1;
  const leafOf = (l: Leaf): { cert: string; key: string } => ({ cert: l.cert, key: l.key });
  return {
    broker,
    pki,
    deviceUrl: broker.url,
    backendUrl: `mqtts://localhost:${backendPort}`,
    etc,
    log,
    tlsOpts: (leaf, extra = {}) => ({
      protocolVersion: 5,
      ca: readFileSync(pki.serverCa),
      cert: readFileSync(leaf.cert),
      key: readFileSync(leaf.key),
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: patience(5000),
      ...extra,
    }),
    async installCrl(kind, from = kind === 'device' ? pki.deviceCa.crl : pki.backendCa.crl) {
      const dest = join(etc, `${kind}-ca.crl`);
      copyFileSync(from, `${dest}.tmp`);
      renameSync(`${dest}.tmp`, dest);
      const before = reloads();
      broker.signal('SIGHUP');
      await waitUntil(() => reloads() > before, 'mosquitto to log "Reloading config."', 5000, 10);
    },
    tls: {
      dir: pki.dir,
      ca: pki.serverCa,
      server: leafOf(pki.server),
      clients: Object.fromEntries(Object.entries({ ...pki.devices, ...pki.backends }).map(([cn, l]) => [cn, leafOf(l)])),
      rogue: Object.fromEntries(Object.entries(pki.untrusted).map(([cn, l]) => [cn, leafOf(l)])),
      rogueCa: pki.untrustedCa,
    },
    async dispose() {
      await broker.dispose();
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}

/** Connects and also returns the CONNACK (connectAsync drops it). */
export function connectWithAck(url: string, opts: IClientOptions): Promise<{ client: mqtt.MqttClient; connack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, opts);
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** Whether a TLS client certificate is refused by the listener at `url`; the error if so. */
export async function refused(url: string, opts: IClientOptions): Promise<Error | undefined> {
  try {
    const c = await mqtt.connectAsync(url, opts);
    await c.endAsync(true);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}
