import { describe, expect, it } from 'vitest';
import { createLogging } from '../../../src/core/log.js';
import { redactDeep, redactText, redactUrl } from '../../../src/core/redact.js';

const SECRETS = ['alice', 'S3cretPW', 'STREAMKEY', 'pp-secret-1', 'live/KEY9', 'sig=abc', 'abc123'];
const leaks = (text: string): string[] => SECRETS.filter((s) => text.includes(s));

describe('redaction', () => {
  it('keeps scheme, host, port and the first path segment; hides user info, later segments, query values, fragments', () => {
    expect(redactUrl('rtmp://alice:S3cretPW@host.example/app/STREAMKEY')).toBe('rtmp://***@host.example/app/***');
    expect(redactUrl('rtmps://host.example:443/live2/STREAMKEY')).toBe('rtmps://host.example:443/live2/***');
    expect(redactUrl('srt://ingest.example:9000?streamid=live/KEY9&passphrase=pp-secret-1')).toBe('srt://ingest.example:9000?streamid=***&passphrase=***');
    expect(redactUrl('https://bucket.example/upload?X-Amz-Signature=abc123#frag')).toBe('https://bucket.example/upload?X-Amz-Signature=***#***');
    expect(redactUrl('rtsp://[::1]:8554/cam')).toBe('rtsp://[::1]:8554/cam');
    expect(redactUrl('mqtts://cloud.example:8883')).toBe('mqtts://cloud.example:8883');
    expect(redactUrl('file:///home/me/secret.wav')).toBe('file://***');
    expect(redactUrl(new URL('rtmp://u@h/a/b/c'))).toBe('rtmp://***@h/a/***');
  });

  it('finds URLs inside free text (ffmpeg stderr, error messages) and leaves other text alone', () => {
    const line = "[tls @ 0x55] Error opening output rtmp://alice:S3cretPW@host/app/STREAMKEY: Input/output error";
    const out = redactText(line);
    expect(leaks(out)).toEqual([]);
    expect(out).toContain('rtmp://***@host/app/***');
    expect(out).toContain('Input/output error');
    expect(redactText('push one lens to an rtsp://, rtmp:// or srt:// URL')).toBe('push one lens to an rtsp://, rtmp:// or srt:// URL');
    expect(redactText('nothing here')).toBe('nothing here');
  });

  it('walks objects and arrays, bounded in depth', () => {
    const doc = { a: ['x', { url: 'srt://h:1?passphrase=pp-secret-1' }], n: 3, b: null, buf: Buffer.from('rtmp://alice@h/a/b') };
    const out = redactDeep(doc);
    expect(leaks(JSON.stringify({ ...out, buf: undefined }))).toEqual([]);
    expect(out.n).toBe(3);
    expect(Buffer.isBuffer(out.buf)).toBe(true);
    let deep: unknown = 'rtmp://alice@h/a/b';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(leaks(JSON.stringify(redactDeep(deep)))).toEqual([]);
  });

  it('applies to every log line: fields and message', () => {
    const logging = createLogging({ level: 'trace', destination: null, ringSize: 10 });
    const log = logging.forComponent('test');
    log.info({ url: 'rtmp://alice:S3cretPW@h/app/STREAMKEY', nested: { detail: 'srt://h:1?passphrase=pp-secret-1' } }, 'pushing to rtmp://alice:S3cretPW@h/app/STREAMKEY');
    log.warn('talk from https://bucket.example/upload?X-Amz-Signature=abc123 failed');
    const text = JSON.stringify(logging.ring.recent());
    expect(leaks(text)).toEqual([]);
    expect(text).toContain('rtmp://***@h/app/***');
    expect(logging.ring.recent()[0]).toMatchObject({ component: 'test' });
  });
});
