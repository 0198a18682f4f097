import { connect, type Socket } from 'node:net';
import type { ErrorBody } from '../core/errors.js';

export type Reply = { ok: true; result: unknown } | { ok: false; error: ErrorBody };

/** A JSON-lines client for the control socket: one request/reply, or a stream of lines. */
export class ControlClient {
  private constructor(private readonly sock: Socket) {}

  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new ControlClient(sock));
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is camd running? is --socket right?)' : err.code === 'EACCES' ? ' (run as the camd user or root)' : '';
        reject(new Error(`cannot connect to ${path}: ${err.code ?? err.message}${hint}`));
      });
    });
  }

  /** Sends one request; resolves with its reply. Extra stream lines go to `onStream`. */
  request(cmd: string, args: Record<string, unknown> = {}, onStream?: (item: unknown) => void): Promise<Reply> {
    const id = Math.floor(Math.random() * 1e9);
    return new Promise((resolve, reject) => {
      let buf = '';
      let replied = false;
      this.sock.setEncoding('utf8');
      this.sock.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let msg: { id?: number; stream?: unknown } & Partial<Reply>;
          try {
            msg = JSON.parse(line) as typeof msg;
          } catch {
            continue;
          }
          if (msg.id !== undefined && msg.id !== id) continue;
          if ('stream' in msg) onStream?.(msg.stream);
          else if (!replied) {
            replied = true;
            resolve(msg as Reply);
          }
        }
      });
      this.sock.once('close', () => {
        if (!replied) reject(new Error('connection closed before a reply'));
      });
      this.sock.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  close(): void {
    this.sock.end();
  }

  onClose(fn: () => void): void {
    this.sock.once('close', fn);
  }
}

export async function call(path: string, cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
  const c = await ControlClient.connect(path);
  try {
    return await c.request(cmd, args);
  } finally {
    c.close();
  }
}
