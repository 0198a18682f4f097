import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkUpdateUrl, fetchSmall, fetchToFile } from '../../src/update/fetch.js';
import { UpdateServer } from '../harness/update-server.js';

/**
 * Firmware downloads over real HTTPS (a test CA the device is given, like secrets update.caFile):
 * resume after a dropped link, the signed size as a bound, certificate verification always on.
 */
let dir: string;
let server: UpdateServer;
let ca: string;
const BLOB = randomBytes(3 * 1024 * 1024 + 17);
const SHA = createHash('sha256').update(BLOB).digest('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camd-update-fetch-'));
  mkdirSync(join(dir, 'www'));
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'www', 'blob.tar.gz'), BLOB);
  writeFileSync(join(dir, 'www', 'small.json'), '{"a":1}');
  server = await UpdateServer.start(join(dir, 'www'), join(dir, 'certs'));
  ca = readFileSync(server.tls.ca, 'utf8');
}, 60_000);
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('firmware download', () => {
  it('a link dropped at 50 %: the next attempt asks for the rest (Range) and the file is whole', async () => {
    const part = join(dir, 'a.part');
    server.cutAfter.set('blob.tar.gz', Math.floor(BLOB.length / 2));
    const before = server.requests.length;
    const r = await fetchToFile(new URL(server.url('blob.tar.gz')), part, BLOB.length, { ca, backoffMs: 50 });
    expect(sha(part)).toBe(SHA);
    const mine = server.requests.slice(before);
    expect(mine[0]).toMatchObject({ status: 200 });
    expect(mine[1]).toMatchObject({ status: 206 });
    expect(Number(/bytes=(\d+)-/.exec(mine[1]!.range!)![1])).toBeGreaterThan(0);
    expect(r.attempts).toBe(2);
  });

  it('a partial file from an earlier update is resumed, not fetched again', async () => {
    const part = join(dir, 'b.part');
    writeFileSync(part, BLOB.subarray(0, 1_000_000));
    const before = server.requests.length;
    const r = await fetchToFile(new URL(server.url('blob.tar.gz')), part, BLOB.length, { ca });
    expect(r.resumedFrom).toBe(1_000_000);
    expect(server.requests.slice(before)).toEqual([{ path: 'blob.tar.gz', range: 'bytes=1000000-', status: 206 }]);
    expect(sha(part)).toBe(SHA);
  });

  it('more bytes than the signed manifest says: refused, not written past the bound', async () => {
    const part = join(dir, 'c.part');
    await expect(fetchToFile(new URL(server.url('blob.tar.gz')), part, 1000, { ca })).rejects.toThrow('larger than the signed manifest says (1000 bytes)');
    expect(statSync(part).size).toBeLessThanOrEqual(1000);
  });

  it('TLS is verified: without the CA the server is refused; http:// and other schemes are refused before any request', async () => {
    await expect(fetchSmall(new URL(server.url('small.json')), 1000, { retries: 0 })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    expect(await fetchSmall(new URL(server.url('small.json')), 1000, { ca })).toEqual(Buffer.from('{"a":1}'));
    expect(() => checkUpdateUrl('http://127.0.0.1/x', false)).toThrow('updates come over https:// only, not http:');
    expect(() => checkUpdateUrl('file:///etc/passwd', false)).toThrow('https:// only');
    expect(checkUpdateUrl('file:///tmp/x.json', true).protocol).toBe('file:');
  });

  it('a missing file: HTTP 404 named', async () => {
    await expect(fetchSmall(new URL(server.url('nope.json')), 1000, { ca })).rejects.toThrow(/HTTP 404/);
  });
});
