import type net from 'node:net';
import type { Logger } from 'pino';
import { GopCache } from './ts-gop.js';
import { UnixServer } from './unix-socket.js';

/** A viewer further behind than this is cut off rather than buffered for. */
const MAX_CLIENT_BACKLOG = 8 * 1024 * 1024;

/** Where a lens's main stream (MPEG-TS) can be read while capture runs: `unix:<path>` for ffmpeg. */
export function relayPath(runDir: string, lens: string): string {
  return `${runDir}/relay-${lens}.sock`;
}

/**
 * Fans one lens's main stream out to local readers (live pushes). The capture ffmpeg writes the
 * stream into `in`; a reader connecting to `out` first gets the current GOP (from the last
 * keyframe, see ts-gop.ts) and then the live stream, in whole TS packets.
 * Readers never slow capture down: one that falls too far behind is disconnected. The stream
 * passes through unchanged (compressed: about the bitrate of the lens, no decoding here).
 */
export class RelayHub {
  private readonly inServer: UnixServer;
  private readonly outServer: UnixServer;
  private input: net.Socket | undefined;
  private readonly gop = new GopCache();
  private readonly readersSet = new Set<net.Socket>();
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
    return this.readersSet.size;
  }

  async start(): Promise<void> {
    await this.inServer.listen();
    await this.outServer.listen();
  }

  async stop(): Promise<void> {
    this.input = undefined;
    this.readersSet.clear();
    await this.outServer.close();
    await this.inServer.close();
  }

  private onInput(sock: net.Socket): void {
    // A new ffmpeg run: a new stream (packet boundaries, PAT/PMT, timestamps start afresh).
    this.input?.destroy();
    this.input = sock;
    this.gop.reset();
    sock.on('data', (chunk: Buffer) => {
      if (this.input !== sock) return;
      this.forward(chunk);
    });
  }

  private onReader(sock: net.Socket): void {
    // Readers only read; anything they send is ignored.
    sock.resume();
    this.readersSet.add(sock);
    sock.once('close', () => this.readersSet.delete(sock));
    const prefix = this.gop.prefix();
    if (prefix.length) this.write(sock, Buffer.concat(prefix));
  }

  private forward(chunk: Buffer): void {
    this.bytes += chunk.length;
    const packets = this.gop.push(chunk);
    if (packets.length === 0 || this.readersSet.size === 0) return;
    const data = packets.length === 1 ? packets[0]! : Buffer.concat(packets);
    for (const r of this.readersSet) this.write(r, data);
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
