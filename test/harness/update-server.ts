import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { makeCerts, type TlsFiles } from './mosquitto.js';

/**
 * The update server of the firmware tests: real HTTPS on 127.0.0.1 with a test CA (the device
 * trusts it through secrets update.caFile), serving the files of one directory with HTTP Range
 * (resume). `cutAfter` makes the next responses of a file stop after that many bytes (a dropped
 * link); every request is recorded with its range.
 */
export class UpdateServer {
  readonly requests: { path: string; range?: string; status: number }[] = [];
  /** file name → bytes after which its responses are cut (once each time it is set). */
  readonly cutAfter = new Map<string, number>();
  /** file name → bytes per second it is served at (a slow link, so a test can act mid-download). */
  readonly throttle = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly root: string,
    readonly tls: TlsFiles,
  ) {}

  static async start(root: string, certDir: string): Promise<UpdateServer> {
    const tls = await makeCerts(certDir, []);
    // eslint-disable-next-line prefer-const -- assigned after the server that closes over it
    let self!: UpdateServer;
    const server = createServer({ cert: readFileSync(tls.server.cert), key: readFileSync(tls.server.key) }, (req, res) => {
      const name = basename(decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname));
      const file = join(root, name);
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        self.requests.push({ path: name, status: 404 });
        res.writeHead(404).end();
        return;
      }
      const range = req.headers.range;
      let start = 0;
      if (range) {
        const m = /^bytes=(\d+)-$/.exec(range);
        start = m ? Number(m[1]) : NaN;
        if (!(start < size)) {
          self.requests.push({ path: name, range, status: 416 });
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
      }
      const status = range ? 206 : 200;
      self.requests.push({ path: name, ...(range ? { range } : {}), status });
      res.writeHead(status, {
        'content-length': String(size - start),
        'accept-ranges': 'bytes',
        ...(range ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
      });
      const cut = self.cutAfter.get(name);
      if (cut !== undefined && cut > start) {
        self.cutAfter.delete(name);
        // Send up to the cut, then drop the connection mid-body.
        const s = createReadStream(file, { start, end: cut - 1 });
        s.pipe(res, { end: false });
        s.on('end', () => setTimeout(() => res.destroy(), 20));
        return;
      }
      const rate = self.throttle.get(name);
      if (rate !== undefined) {
        // 10 chunks a second of rate/10 bytes each.
        const s = createReadStream(file, { start, highWaterMark: Math.max(1024, Math.floor(rate / 10)) });
        s.on('data', (c) => {
          s.pause();
          res.write(c, () => setTimeout(() => s.resume(), 100));
        });
        s.on('end', () => res.end());
        res.on('close', () => s.destroy());
        return;
      }
      createReadStream(file, { start }).pipe(res);
    });
    self = new UpdateServer(server, root, tls);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  url(name: string): string {
    return `https://localhost:${(this.server.address() as AddressInfo).port}/${name}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
