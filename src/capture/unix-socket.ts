import { promises as fs } from 'node:fs';
import net from 'node:net';

/**
 * A Unix socket server in the run directory (owner-only, like the run directory itself). ffmpeg
 * connects to it as a client (`unix:<path>` output): this gives ffmpeg more output pipes than
 * stdout without extra file descriptors.
 */
export class UnixServer {
  private server: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();

  constructor(
    readonly path: string,
    private readonly onConnection: (sock: net.Socket) => void,
  ) {}

  async listen(): Promise<void> {
    if (Buffer.byteLength(this.path) > 100) throw new Error(`socket path too long for a Unix socket: ${this.path}`);
    await fs.rm(this.path, { force: true });
    const server = net.createServer((sock) => {
      this.conns.add(sock);
      sock.once('close', () => this.conns.delete(sock));
      // A peer that dies mid-write shows up as an error; the close that follows does the cleanup.
      sock.on('error', () => undefined);
      this.onConnection(sock);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await fs.chmod(this.path, 0o600);
    this.server = server;
  }

  get listening(): boolean {
    return !!this.server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.rm(this.path, { force: true });
  }
}
