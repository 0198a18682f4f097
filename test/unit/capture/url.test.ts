import { describe, expect, it } from 'vitest';
import { CamdError } from '../../../src/core/errors.js';
import { parseMediaUrl, PUSH_PROTOCOLS, redactUrl, TALK_PROTOCOLS } from '../../../src/live/url.js';

function err(fn: () => unknown): CamdError {
  try {
    fn();
  } catch (e) {
    return e as CamdError;
  }
  throw new Error('did not throw');
}

describe('media URLs from the cloud', () => {
  it('accepts rtsp/rtmp/srt pushes with a host', () => {
    for (const u of ['rtsp://h:8554/cam', 'rtmps://live.example/app/KEY', 'srt://10.0.0.2:9000?streamid=x']) expect(parseMediaUrl(u, PUSH_PROTOCOLS).href).toBeTruthy();
  });

  it.each([
    ['http://h/live', /scheme http not supported/],
    ['rtmp://', /not a valid URL|no host/],
    ['rtmp://h/a b', /blanks/],
    ['rtmp://h/a\nb', /blanks|control/],
    ['not a url', /blanks|not a valid/],
    ['file:///etc/shadow', /scheme file not supported/],
  ])('refuses %j precisely', (u, msg) => {
    const e = err(() => parseMediaUrl(u, PUSH_PROTOCOLS));
    expect(e).toBeInstanceOf(CamdError);
    expect(e.code).toBe('invalid_args');
    expect(e.path).toBe('url');
    expect(e.message).toMatch(msg);
  });

  it('file: only where allowed', () => {
    expect(() => parseMediaUrl('file:///tmp/a.wav', TALK_PROTOCOLS)).toThrow(/not supported/);
    expect(parseMediaUrl('file:///tmp/a.wav', TALK_PROTOCOLS, { allowFile: true }).pathname).toBe('/tmp/a.wav');
  });

  it('redaction keeps stream keys and passphrases out of logs and state', () => {
    expect(redactUrl(new URL('rtmp://user:pw@live.example:1935/app/SECRETKEY'))).toBe('rtmp://live.example:1935/…');
    expect(redactUrl(new URL('srt://h:9000?passphrase=abcdefghij'))).toBe('srt://h:9000');
  });
});
