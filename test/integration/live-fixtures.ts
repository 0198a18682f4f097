import { execFile } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { makeCerts, type TlsFiles } from '../harness/mosquitto.js';

const run = promisify(execFile);

/** The test PKI: a CA, a server certificate for 127.0.0.1/localhost, one for another name. */
export interface MediaPki extends TlsFiles {
  /** Signed by the same CA, but for other.example only: the host name check must refuse it. */
  wrongHost: { cert: string; key: string };
}

export async function makeMediaPki(dir: string): Promise<MediaPki> {
  const tls = await makeCerts(dir, []);
  writeFileSync(join(dir, 'wrong.ext'), 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-new', ...ec, '-keyout', 'wrong.key', '-out', 'wrong.csr', '-subj', '/CN=other.example'], { cwd: dir });
  await run('openssl', ['x509', '-req', '-in', 'wrong.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'wrong.crt', '-days', '2', '-extfile', 'wrong.ext'], { cwd: dir });
  return { ...tls, wrongHost: { cert: join(dir, 'wrong.crt'), key: join(dir, 'wrong.key') } };
}

/**
 * A real TLS server on 127.0.0.1 (node:tls) in front of a plain TCP service (the receiving
 * ffmpeg): what an rtmps ingest is. It counts completed handshakes and the application bytes
 * the client sent after one; the upstream connection is made on the first byte, so a client that
 * gives up after the handshake does not use up a one-shot receiver. Without an upstream it hangs
 * up on the first byte.
 */
export class TlsFront {
  handshakes = 0;
  bytes = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: TlsServer) {}

  static async start(cert: { cert: string; key: string }, upstreamPort?: number): Promise<TlsFront> {
    // eslint-disable-next-line prefer-const -- assigned after the server that closes over it
    let front!: TlsFront;
    const server = createTlsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (sock) => {
      front.handshakes++;
      front.sockets.add(sock);
      sock.on('close', () => front.sockets.delete(sock));
      sock.on('error', () => undefined);
      let up: Socket | undefined;
      sock.on('data', (d: Buffer) => {
        front.bytes += d.length;
        // Nothing behind it: hang up, so the client fails at once instead of waiting for an answer.
        if (upstreamPort === undefined) return void sock.destroy();
        if (!up) {
          up = connect(upstreamPort, '127.0.0.1');
          up.on('error', () => sock.destroy());
          up.on('close', () => sock.destroy());
          up.pipe(sock);
          front.sockets.add(up);
        }
        up.write(d);
      });
      sock.on('close', () => up?.destroy());
    });
    server.on('tlsClientError', () => undefined);
    front = new TlsFront(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return front;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** An HTTPS server with a few routes, recording every request path. */
export class HttpsFiles {
  readonly requests: string[] = [];
  private constructor(private readonly server: HttpsServer) {}

  static async start(cert: { cert: string; key: string }, routes: Record<string, { file: string; type: string } | { redirect: (port: number) => string } | { text: string; type: string }>): Promise<HttpsFiles> {
    // eslint-disable-next-line prefer-const -- assigned after the server that closes over it
    let files!: HttpsFiles;
    const server = createHttpsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
      files.requests.push(req.url ?? '');
      const route = routes[req.url ?? ''];
      if (!route) {
        res.writeHead(404).end();
      } else if ('redirect' in route) {
        res.writeHead(302, { location: route.redirect(files.port) }).end();
      } else if ('text' in route) {
        res.writeHead(200, { 'content-type': route.type }).end(route.text);
      } else {
        res.writeHead(200, { 'content-type': route.type });
        createReadStream(route.file).pipe(res);
      }
    });
    server.on('tlsClientError', () => undefined);
    files = new HttpsFiles(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return files;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Inodes of listening TCP sockets and bound UDP sockets on this machine (/proc/net). */
function listeningInodes(): Set<string> {
  const out = new Set<string>();
  for (const [file, state] of [['tcp', '0A'], ['tcp6', '0A'], ['udp', '07'], ['udp6', '07']] as const) {
    let text = '';
    try {
      text = readFileSync(`/proc/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === state) out.add(f[9]!);
    }
  }
  return out;
}

/**
 * Listening sockets held by child processes of this test process (the in-process daemon's
 * ffmpeg children, and the test's own receivers): `pid: command line` for each.
 */
export function childListeners(): string[] {
  const inodes = listeningInodes();
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let ppid: string | undefined;
    try {
      ppid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
    } catch {
      continue;
    }
    if (ppid !== String(process.pid)) continue;
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) found.push(`${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 160)}`);
      } catch {
        // The process or the fd went away meanwhile.
      }
    }
  }
  return found;
}

/** 16-bit PCM mono samples of a WAV file (finds the data chunk). */
function samples(file: string): { rate: number; data: Int16Array } {
  const buf = readFileSync(file);
  const rate = buf.readUInt32LE(24);
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const end = Math.min(buf.length, off + 8 + size);
      const copy = buf.subarray(off + 8, end - ((end - off - 8) % 2));
      return { rate, data: new Int16Array(copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.length)) };
    }
    off += 8 + size;
  }
  throw new Error('no data chunk');
}

/** Length, frequency (zero crossings) and peak amplitude of a WAV file (what the sim speaker played). */
export function analyseWav(file: string): { seconds: number; hz: number; peak: number } {
  const { rate, data } = samples(file);
  let crossings = 0;
  let peak = 0;
  for (let i = 1; i < data.length; i++) {
    if (data[i - 1]! < 0 && data[i]! >= 0) crossings++;
    peak = Math.max(peak, Math.abs(data[i]!));
  }
  const seconds = data.length / rate;
  return { seconds, hz: seconds > 0 ? crossings / seconds : 0, peak };
}
