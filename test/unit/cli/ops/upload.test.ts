import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runUpload } from '../../../../src/cli/ops/upload.js';
import { fakeIo } from './fake-io.js';

/**
 * A control socket that answers `recordings.upload` and then reports the upload in state.clipUpload
 * along `phases`, one per status request (the last one repeats).
 */
function fakeDaemon(path: string, phases: Record<string, unknown>[], uploadReply: Record<string, unknown> = { ok: true, result: { lens: 'wide', id: 'u1', total: 3_000_000, segments: 3, start: 0, end: 1 } }): Promise<{ server: Server; requests: { cmd: string; args: unknown }[] }> {
  const requests: { cmd: string; args: unknown }[] = [];
  let n = 0;
  const server = createServer((s) => {
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as { id: number; cmd: string; args: unknown };
        buf = buf.slice(nl + 1);
        requests.push({ cmd: req.cmd, args: req.args });
        const body = req.cmd === 'recordings.upload' ? uploadReply : { ok: true, result: { clipUpload: phases[Math.min(n++, phases.length - 1)] } };
        s.write(`${JSON.stringify({ id: req.id, ...body })}\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve({ server, requests })));
}

describe('camctl recordings upload', () => {
  let dir = '';
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const up = (bytes: number, phase = 'uploading', extra: Record<string, unknown> = {}) => ({ id: 'u1', lens: 'wide', phase, bytes, total: 3_000_000, segments: 3, startedAt: 1000, ...extra });

  it('sends the request, shows the progress a line per phase when not a terminal, ends 0 when done', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camctl-up-'));
    const sock = join(dir, 's');
    const d = await fakeDaemon(sock, [{ id: 'older', phase: 'done' }, up(1_000_000), up(2_000_000), up(3_000_000, 'done', { endedAt: 3500 })]);
    server = d.server;
    const io = fakeIo();
    expect(await runUpload(sock, { lens: 'wide', from: 10, to: 20, url: 'https://media.example/put?sig=x', json: false, io })).toBe(0);
    expect(d.requests[0]).toEqual({ cmd: 'recordings.upload', args: { lens: 'wide', from: 10, to: 20, url: 'https://media.example/put?sig=x' } });
    // Another upload's state (an older id) is not this one's.
    expect(io.text()).toBe('uploading 3 segment(s) of wide, 3.0 MB (upload u1)\nuploading 1.0 MB / 3.0 MB (33 %)\nuploaded 3.0 MB in 2.5 s\n');
  });

  it('a failed upload ends 1 with the reason; a refused request names the flag', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camctl-up-'));
    const sock = join(dir, 's');
    server = (await fakeDaemon(sock, [up(10), up(10, 'failed', { error: 'HTTP 403' })])).server;
    const io = fakeIo();
    expect(await runUpload(sock, { lens: 'wide', from: 10, to: 20, url: 'https://x/y', json: false, io })).toBe(1);
    expect(io.errText()).toBe('camctl: upload failed: HTTP 403\n');
    server.close();

    const sock2 = join(dir, 's2');
    server = (await fakeDaemon(sock2, [], { ok: false, error: { code: 'forbidden', message: 'plaintext http is refused for uploads', path: 'url' } })).server;
    const refused = fakeIo();
    expect(await runUpload(sock2, { lens: 'wide', from: 10, to: 20, url: 'http://x/y', json: false, io: refused })).toBe(1);
    expect(refused.errText()).toBe('camctl: recordings upload: plaintext http is refused for uploads (--url)\n');
  });

  it('--json: one line with the final upload state', async () => {
    dir = mkdtempSync(join(tmpdir(), 'camctl-up-'));
    const sock = join(dir, 's');
    server = (await fakeDaemon(sock, [up(3_000_000, 'done', { endedAt: 2000 })])).server;
    const io = fakeIo();
    expect(await runUpload(sock, { lens: 'wide', from: 10, to: 20, url: 'https://x/y', json: true, io })).toBe(0);
    expect(JSON.parse(io.text())).toEqual({ ok: true, upload: up(3_000_000, 'done', { endedAt: 2000 }) });
  });
});
