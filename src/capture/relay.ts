import type net from 'node:net';
import type { Logger } from 'pino';
import { UnixServer } from './unix-socket.js';

const TS_PACKET = 188;
/** A viewer further behind than this is cut off rather than buffered for. */
const MAX_CLIENT_BACKLOG = 8 * 1024 * 1024;

/** Where a lens's main stream (MPEG-TS) can be read while capture runs: `unix:<path>` for ffmpeg. */
export function relayPath(runDir: string, lens: string): string {
  return `${runDir}/relay-${lens}.sock`;
}

/**
 * Fans one lens's main stream out to local readers (live pushes). The capture ffmpeg writes the
 * stream into `in`; every reader connected to `out` gets it from the next TS packet boundary on.
 * Readers never slow capture down: one that falls too far behind is disconnected. The stream
 * passes through unchanged (compressed: about the bitrate of the lens, no decoding here).
 */
export class RelayHub {
  private readonly inServer: UnixServer;
  private readonly outServer: UnixServer;
  private input: net.Socket | undefined;
  private inBytes = 0;
  private readonly joined = new Set<net.Socket>();
  private readonly waiting = new Set<net.Socket>();
  bytes = 0;

  constructor(
    inPath: string,
    readonly outPath: string,
    private readonly log: Logger,
  ) {
    this.inServer = new UnixServer(inPath, (s) => this.onInput(s));
    this.outServer = new UnixServer(outPath, (s) => this.onReader(s));
  }

  get inPath(): string {
    return this.inServer.path;
  }

  get readers(): number {
    return this.joined.size + this.waiting.size;
  }

  async start(): Promise<void> {
    await this.inServer.listen();
    await this.outServer.listen();
  }

  async stop(): Promise<void> {
    this.input = undefined;
    this.joined.clear();
    this.waiting.clear();
    await this.outServer.close();
    await this.inServer.close();
  }

  private onInput(sock: net.Socket): void {
    // A new ffmpeg run: its stream starts on a packet boundary.
    this.input?.destroy();
    this.input = sock;
    this.inBytes = 0;
    sock.on('data', (chunk: Buffer) => {
      if (this.input !== sock) return;
      this.forward(chunk);
    });
  }

  private onReader(sock: net.Socket): void {
    // Readers only read; anything they send is ignored.
    sock.resume();
    this.waiting.add(sock);
    sock.once('close', () => {
      this.waiting.delete(sock);
      this.joined.delete(sock);
    });
  }

  private forward(chunk: Buffer): void {
    const skip = (TS_PACKET - (this.inBytes % TS_PACKET)) % TS_PACKET;
    this.inBytes += chunk.length;
    this.bytes += chunk.length;
    for (const r of this.joined) this.write(r, chunk);
    if (skip >= chunk.length) return;
    for (const r of this.waiting) {
      this.waiting.delete(r);
      this.joined.add(r);
      this.write(r, skip ? chunk.subarray(skip) : chunk);
    }
  }

  private write(r: net.Socket, data: Buffer): void {
    if (r.destroyed) return;
    if (r.writableLength > MAX_CLIENT_BACKLOG) {
      this.log.warn({ backlog: r.writableLength }, 'relay reader too slow; disconnecting it');
      r.destroy();
      return;
    }
    r.write(data);
  }
}
