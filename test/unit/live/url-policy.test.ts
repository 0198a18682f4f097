import { describe, expect, it } from 'vitest';
import { CamdError } from '../../../src/core/errors.js';
import { checkMediaUrl, ffmpegQuery, type MediaPolicySettings, type MediaUse } from '../../../src/live/url-policy.js';
import type { Resolver } from '../../../src/live/address.js';

/** The owner's production stance: no plaintext, no local targets. */
const STRICT: MediaPolicySettings = { allowPlaintext: false, allowLocalTargets: false };
/** Plaintext allowed, so the local-target rule is the one that speaks. */
const PLAIN: MediaPolicySettings = { allowPlaintext: true, allowLocalTargets: false };
/** The sim board's factory defaults. */
const SIM: MediaPolicySettings = { allowPlaintext: true, allowLocalTargets: true };

/**
 * DNS answers for names under .example (a reserved domain: no real answer exists to use); IP
 * literals and `localhost` go to the system resolver, as in the daemon.
 */
const ZONE: Record<string, string[]> = {
  'cam.example': ['203.0.113.10'],
  'live.example': ['198.51.100.20', '2001:db8::20'],
  'rebind.example': ['203.0.113.11', '10.0.0.7'],
  'v6local.example': ['fd12::5'],
};
const resolver: Resolver = async (host) => {
  if (host in ZONE) return ZONE[host]!;
  const { systemResolver } = await import('../../../src/live/address.js');
  return systemResolver(host);
};

async function refusal(raw: string, use: MediaUse, settings: MediaPolicySettings): Promise<CamdError> {
  try {
    await checkMediaUrl(raw, use, settings, resolver);
  } catch (e) {
    if (e instanceof CamdError) return e;
    throw e;
  }
  throw new Error(`${raw} was accepted`);
}

const PW = 'passphrase=0123456789abc';

describe('the media URL policy', () => {
  // [url, use, settings, rule]
  const attacks: [string, MediaUse, MediaPolicySettings, string][] = [
    // Listeners and rendezvous, in every spelling ffmpeg reads.
    ['srt://0.0.0.0:19364?mode=listener', 'push', SIM, 'no-listener'],
    ['srt://0.0.0.0:19364?mode=listener', 'push', STRICT, 'no-listener'],
    ['srt://0.0.0.0:19365?mode=listener', 'talk', SIM, 'no-listener'],
    ['srt://cam.example:9000?mode=rendezvous', 'push', SIM, 'no-listener'],
    [`srt://cam.example:9000?${PW}&mode=Listener`, 'push', SIM, 'no-listener'],
    [`srt://cam.example:9000?latency=1#&mode=listener`, 'push', SIM, 'no-listener'],
    [`srt://cam.example:9000#?mode=listener`, 'push', SIM, 'no-listener'],
    [`srt://cam.example:9000?${PW}&mode=caller&localport=5000`, 'push', SIM, 'query-key'],
    [`srt://cam.example:9000?${PW}&mod%65=listener`, 'push', SIM, 'query-key'],
    [`srt://cam.example:9000?${PW}&MODE=listener`, 'push', SIM, 'query-key'],
    [`srt://cam.example:9000?${PW}&listen_timeout=100`, 'push', SIM, 'query-key'],
    [`srt://cam.example:9000?${PW}&enforced_encryption=0`, 'push', SIM, 'query-key'],
    [`srt://cam.example:9000?${PW}&ipttl=1`, 'push', SIM, 'query-key'],
    ['srt://cam.example:9000?passphrase=short', 'push', SIM, 'query-value'],
    [`srt://cam.example:9000?${PW}&transtype=file`, 'push', SIM, 'query-value'],
    [`srt://cam.example:9000?${PW}&latency=-1`, 'push', SIM, 'query-value'],
    [`srt://cam.example:9000?${PW}&pbkeylen=8`, 'push', SIM, 'query-value'],
    ['rtmp://cam.example/app?listen=1', 'push', SIM, 'query-key'],
    ['rtmps://cam.example/app/key?rtmp_listen=1', 'push', STRICT, 'query-key'],
    ['rtmps://cam.example/app/key?Timeout=5', 'push', STRICT, 'query-key'],
    ['rtmps://cam.example/app/key?list%65n=1', 'push', STRICT, 'query-key'],
    ['rtsp://cam.example/cam?udp', 'push', SIM, 'query-key'],
    ['rtsp://cam.example/cam?token=1&multicast', 'push', SIM, 'query-key'],
    ['rtsp://cam.example/cam?token=1?udp', 'push', SIM, 'query-syntax'],
    ['rtsp://cam.example/cam?rtsp_flags=listen', 'push', SIM, 'query-key'],
    ['https://cam.example/voice?listen=1', 'talk', STRICT, 'query-key'],
    ['https://cam.example/voice?method=POST', 'talk', STRICT, 'query-key'],
    // Plaintext (and TLS ffmpeg cannot verify) without live.allowPlaintext.
    ['rtmp://cam.example/app/key', 'push', STRICT, 'plaintext'],
    ['rtsp://cam.example/cam', 'push', STRICT, 'plaintext'],
    ['rtsps://cam.example/cam', 'push', STRICT, 'plaintext'],
    ['srt://cam.example:9000', 'push', STRICT, 'plaintext'],
    ['srt://cam.example:9000?streamid=abc', 'push', STRICT, 'plaintext'],
    ['http://cam.example/voice.aac', 'talk', STRICT, 'plaintext'],
    ['http://127.0.0.1:1883/', 'talk', STRICT, 'plaintext'],
    // Local targets without live.allowLocalTargets.
    ['http://127.0.0.1:1883/', 'talk', PLAIN, 'local-target'],
    ['https://[::1]/', 'talk', STRICT, 'local-target'],
    ['http://169.254.169.254/latest/meta-data', 'talk', PLAIN, 'local-target'],
    ['https://[::ffff:127.0.0.1]/a', 'talk', STRICT, 'local-target'],
    ['https://[::ffff:10.1.2.3]/a', 'talk', STRICT, 'local-target'],
    ['rtmps://[::ffff:192.168.1.1]/app', 'push', STRICT, 'local-target'],
    ['http://2130706433/', 'talk', PLAIN, 'local-target'],
    ['https://0x7f.1/', 'talk', STRICT, 'local-target'],
    ['https://0177.0.0.1/', 'talk', STRICT, 'local-target'],
    ['https://localhost/voice', 'talk', STRICT, 'local-target'],
    ['https://rebind.example/voice', 'talk', STRICT, 'local-target'],
    ['rtmps://v6local.example/app', 'push', STRICT, 'local-target'],
    ['rtmp://10.1.2.3/app/key', 'push', PLAIN, 'local-target'],
    ['rtmps://172.16.0.1/app', 'push', STRICT, 'local-target'],
    ['rtmps://192.168.0.10/app', 'push', STRICT, 'local-target'],
    ['rtmps://100.64.0.1/app', 'push', STRICT, 'local-target'],
    ['rtmps://0.0.0.0/app', 'push', STRICT, 'local-target'],
    ['rtmps://224.0.0.251/app', 'push', STRICT, 'local-target'],
    ['rtmps://255.255.255.255/app', 'push', STRICT, 'local-target'],
    ['rtmps://[fe80::1]/app', 'push', STRICT, 'local-target'],
    ['rtmps://[fc00::1]/app', 'push', STRICT, 'local-target'],
    ['rtmps://[ff02::1]/app', 'push', STRICT, 'local-target'],
    ['rtmps://[::]/app', 'push', STRICT, 'local-target'],
    ['rtmps://[::127.0.0.1]/app', 'push', STRICT, 'local-target'],
    ['rtmps://[64:ff9b::7f00:1]/app', 'push', STRICT, 'local-target'],
    [`srt://127.0.0.1:9000?${PW}`, 'push', STRICT, 'local-target'],
    // Numbers that getaddrinfo reads as addresses, where the URL parser leaves them alone.
    ['rtmps://2130706433/app', 'push', SIM, 'numeric-host'],
    ['rtmps://0x7f.1/app', 'push', SIM, 'numeric-host'],
    ['rtmps://127.1/app', 'push', SIM, 'numeric-host'],
    ['rtmps://0177.0.0.1/app', 'push', SIM, 'numeric-host'],
  ];

  it.each(attacks)('refuses %s (%s) by rule', async (raw, use, settings, rule) => {
    const e = await refusal(raw, use, settings);
    expect(e.code, e.message).toBe('forbidden');
    expect(e.path).toBe('url');
    expect(e.message).toContain(`(media URL policy: ${rule})`);
  });

  it('never quotes a secret in a refusal', async () => {
    const e = await refusal('rtmps://alice:S3cretPW@cam.example/app/STREAMKEY?rtmp_listen=TOKENVALUE', 'push', STRICT);
    expect(e.message).not.toMatch(/alice|S3cretPW|STREAMKEY|TOKENVALUE/);
    const e2 = await refusal('srt://cam.example:9000?passphrase=SECRETPASSPHRASE&mode=rendezvous', 'push', SIM);
    expect(e2.message).not.toContain('SECRETPASSPHRASE');
    const e3 = await refusal('https://alice:S3cretPW@localhost/x', 'talk', STRICT);
    expect(e3.message).not.toMatch(/alice|S3cretPW/);
  });

  it('schemes other than the listed ones are not supported; file only for local sim callers', async () => {
    for (const [raw, use] of [['tcp://0.0.0.0:9000?listen', 'push'], ['udp://0.0.0.0:9000', 'push'], ['http://cam.example/live', 'push'], ['file:///etc/passwd', 'talk'], ['ftp://cam.example/a.wav', 'talk']] as const) {
      const e = await refusal(raw, use, SIM);
      expect(e.code, raw).toBe('invalid_args');
    }
    const f = await checkMediaUrl('file:///tmp/a.wav', 'talk', { ...STRICT, allowFile: true }, resolver);
    expect(f).toMatchObject({ protocols: ['file'], verifyTls: false, redacted: 'file://***' });
    expect((await refusal('file:///tmp/a.wav', 'push', { ...SIM, allowFile: true })).code).toBe('invalid_args');
  });

  it('a host that does not resolve is refused before ffmpeg looks it up', async () => {
    const e = await refusal('rtmps://nowhere.invalid/app', 'push', STRICT);
    expect(e).toMatchObject({ code: 'unavailable', path: 'url' });
    expect(e.message).toMatch(/does not resolve/);
  });

  it('lets through what a cloud service needs, with the child\'s protocols and TLS verification', async () => {
    const ok = async (raw: string, use: MediaUse, settings = STRICT) => checkMediaUrl(raw, use, settings, resolver);
    expect(await ok('rtmps://alice:S3cretPW@live.example/app/STREAMKEY', 'push')).toMatchObject({
      verifyTls: true, plaintext: false, protocols: ['rtmps', 'tls', 'tcp'], redacted: 'rtmps://***@live.example/app/***',
    });
    expect(await ok('rtmps://live.example/rtmp/FB-1-0-Ab?s_bl=1&s_sc=2&a=x', 'push')).toMatchObject({ verifyTls: true });
    expect(await ok(`srt://cam.example:9000?${PW}&pbkeylen=32&mode=caller&latency=200000&streamid=#!::r=live/cam,m=publish`, 'push')).toMatchObject({
      verifyTls: false, plaintext: false, protocols: ['srt'],
    });
    expect(await ok('https://cam.example/voice.aac?sig=abc', 'talk')).toMatchObject({ verifyTls: true, protocols: ['https', 'tls', 'tcp'] });
    expect(await ok('rtsp://cam.example:8554/cam?token=abc', 'push', PLAIN)).toMatchObject({ plaintext: true, protocols: ['tcp'] });
    expect(await ok('http://cam.example/v.wav', 'talk', PLAIN)).toMatchObject({ plaintext: true, protocols: ['http', 'tcp'] });
    expect(await ok('rtmps://[2001:db8::5]/app', 'push')).toMatchObject({ verifyTls: true });
    // The sim board's defaults: its local test servers.
    expect(await ok('rtmp://127.0.0.1:1935/live/key', 'push', SIM)).toMatchObject({ plaintext: true });
    expect(await ok('srt://127.0.0.1:9000', 'push', SIM)).toMatchObject({ plaintext: true });
  });

  it('reads the query exactly as ffmpeg\'s av_find_info_tag does', () => {
    expect(ffmpegQuery('srt://h:1?a=1+2&b&c=%41&&d=x=y#e&f=g')).toEqual([
      { key: 'a', value: '1 2' },
      { key: 'b', value: undefined },
      { key: 'c', value: '%41' },
      { key: 'd', value: 'x=y#e' },
      { key: 'f', value: 'g' },
    ]);
    expect(ffmpegQuery('rtmp://h/app')).toEqual([]);
  });
});
