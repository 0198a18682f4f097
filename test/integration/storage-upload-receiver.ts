import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCerts, type TlsFiles } from '../harness/mosquitto.js';

export interface ReceivedPut {
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** What the receiver answered; undefined when it cut the connection. */
  status?: number;
}

/**
 * A presigned-URL receiver as a storage backend behaves: real HTTPS on 127.0.0.1 with a test CA
 * (`localhost` certificate), accepts a PUT and keeps its body. Knobs for the failure tests:
 * `cutAfter` drops the connection once that many body bytes arrived (once), `status` answers an
 * error document instead of 200, `hold` withholds the answer until `release()`.
 */
export class PutReceiver {
  readonly puts: ReceivedPut[] = [];
  cutAfter: number | undefined;
  status: number | undefined;
  hold = false;
  private held: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly tls: TlsFiles,
  ) {}

  static async start(certDir: string): Promise<PutReceiver> {
    const tls = await makeCerts(certDir, []);
    // eslint-disable-next-line prefer-const -- assigned after the server that closes over it
    let self!: PutReceiver;
    const server = createServer({ cert: readFileSync(tls.server.cert), key: readFileSync(tls.server.key) }, (req, res) => {
      const u = new URL(req.url ?? '/', 'https://x');
      const chunks: Buffer[] = [];
      let n = 0;
      const put: ReceivedPut = { path: u.pathname, query: u.search, headers: req.headers, body: Buffer.alloc(0) };
      self.puts.push(put);
      const cut = self.cutAfter;
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        n += c.length;
        if (cut !== undefined && n >= cut) {
          self.cutAfter = undefined;
          put.body = Buffer.concat(chunks);
          req.socket.destroy();
        }
      });
      req.on('end', () => {
        put.body = Buffer.concat(chunks);
        const answer = (): void => {
          if (req.method !== 'PUT') {
            put.status = 405;
            res.writeHead(405).end();
            return;
          }
          put.status = self.status ?? 200;
          if (put.status === 200) res.writeHead(200, { etag: '"test"' }).end();
          else res.writeHead(put.status, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
        };
        if (self.hold) self.held.push(answer);
        else answer();
      });
    });
    self = new PutReceiver(server, tls);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** A presigned-looking URL on this receiver (host `localhost`, the certificate's name). */
  url(name: string): string {
    return `https://localhost:${this.port}/bucket/${name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-Signature=0123456789abcdef`;
  }

  release(): void {
    this.hold = false;
    for (const a of this.held.splice(0)) a();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
