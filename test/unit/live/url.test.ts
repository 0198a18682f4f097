import { describe, expect, it } from 'vitest';
import { CamdError } from '../../../src/core/errors.js';
import { redactUrl } from '../../../src/core/redact.js';
import { parseMediaUrl, pushFormat, PUSH_PROTOCOLS, TALK_PROTOCOLS } from '../../../src/live/url.js';

function err(fn: () => unknown): CamdError {
  try {
    fn();
  } catch (e) {
    return e as CamdError;
  }
  throw new Error('did not throw');
}

describe('media URLs from the cloud: their shape', () => {
  it('accepts rtsp/rtmp/srt pushes with a host', () => {
    for (const u of ['rtsp://h:8554/cam', 'rtmps://live.example/app/KEY', 'srt://10.0.0.2:9000?streamid=x', 'rtmps://[2001:db8::1]:443/app']) {
      expect(parseMediaUrl(u, PUSH_PROTOCOLS).href).toBe(new URL(u).href);
    }
  });

  it.each([
    ['http://h/live', /scheme http not supported/],
    ['tcp://0.0.0.0:9000?listen', /scheme tcp not supported/],
    ['udp://0.0.0.0:9000', /scheme udp not supported/],
    ['rtmp://', /not a valid URL|no host/],
    ['rtmp://h/a b', /blanks/],
    ['rtmp://h/a\nb', /blanks|control/],
    ['not a url', /blanks|not a valid/],
    ['file:///etc/shadow', /scheme file not supported/],
    ['rtmp://127.0.0.%31/app', /DNS name or an IP address/],
    ['rtmp://h_o:st/app', /not a valid URL|DNS name/],
    ['rtmp://h:0/app', /port 0/],
    ['rtmp://h:65536/app', /not a valid URL/],
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

  it('redaction keeps credentials, stream keys and passphrases out of logs and state', () => {
    expect(redactUrl(new URL('rtmp://alice:S3cretPW@live.example:1935/app/STREAMKEY'))).toBe('rtmp://***@live.example:1935/app/***');
    expect(redactUrl(new URL('srt://h:9000?passphrase=abcdefghij&streamid=#!::r=live'))).toBe('srt://h:9000?passphrase=***&streamid=***#***');
    expect(redactUrl(new URL('rtmps://a.example/rtmp/FB-123?s_bl=1&a=Abc'))).toBe('rtmps://a.example/rtmp/***?s_bl=***&a=***');
  });

  it('pushes go out over TCP for RTSP (never RTP over local UDP ports)', () => {
    expect(pushFormat(new URL('rtsps://h/cam'))).toEqual(['-f', 'rtsp', '-rtsp_transport', 'tcp']);
    expect(pushFormat(new URL('rtmps://h/app'))).toEqual(['-f', 'flv']);
    expect(pushFormat(new URL('srt://h:1'))).toEqual(['-f', 'mpegts']);
  });
});
