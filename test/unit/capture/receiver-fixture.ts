import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/** A free local TCP (RTMP) or UDP (SRT) port. */
export async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'tcp') {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    return port;
  }
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}

/**
 * The viewer's side of a live push: a real ffmpeg listening for RTMP or SRT and writing what
 * it gets to an MPEG-TS file a test can probe.
 */
export class Receiver {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    readonly listenUrl: string,
    readonly file: string,
  ) {
    const probe = ['-probesize', '500000', '-analyzeduration', '1000000'];
    const input = listenUrl.startsWith('rtmp') ? [...probe, '-listen', '1', '-i', listenUrl] : [...probe, '-i', `${listenUrl}?mode=listener`];
    this.proc = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...input, '-c', 'copy', '-f', 'mpegts', file], { stdio: 'ignore' });
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
  }

  kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.proc.kill(sig);
    return this.exited;
  }
}
