import { describe, expect, it } from 'vitest';
import { pushArgs, talkArgs, TALK_FORMATS } from '../../../src/live/args.js';
import { inspectMediaUrl } from '../../../src/live/url-policy.js';

const after = (args: string[], flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
const SIM = { allowPlaintext: true, allowLocalTargets: true };
const push = (url: string) => inspectMediaUrl(url, 'push', SIM);
const talk = (url: string) => inspectMediaUrl(url, 'talk', { ...SIM, allowFile: true });

describe('live ffmpeg arguments', () => {
  const target = push('rtmp://cloud.example/live/key');
  const profile = { width: 640, height: 360, fps: 10, bitrateKbps: 600 };
  it('mono at the source profile is copied; another profile is scaled and encoded', () => {
    const copy = pushArgs({ inputs: [{ lens: 'wide', relay: '/run/r-wide.sock' }], target, profile, copy: true });
    expect(copy.join(' ')).toContain('-f mpegts -i unix:/run/r-wide.sock');
    expect(copy.join(' ')).toContain('-map 0:v -c:v copy');
    expect(copy.slice(-3)).toEqual(['-f', 'flv', 'rtmp://cloud.example/live/key']);
    const enc = pushArgs({ inputs: [{ lens: 'wide', relay: '/run/r-wide.sock' }], target, profile, copy: false });
    expect(enc.join(' ')).toContain('-vf scale=640:360,fps=10 -c:v libx264');
  });

  it('sync stacks both lenses; the microphone rides along only when asked', () => {
    const a = pushArgs({
      inputs: [{ lens: 'wide', relay: '/w' }, { lens: 'ptz', relay: '/p' }],
      target: push('srt://cloud.example:9000'),
      profile,
      copy: false,
      audio: { kind: 'wav', file: '/mic.wav' },
    });
    expect(after(a, '-filter_complex')).toBe('[0:v]scale=-2:360[v0];[1:v]scale=-2:360[v1];[v0][v1]hstack=inputs=2,fps=10[v]');
    expect(a.join(' ')).toContain('-map 2:a -c:a aac');
    expect(a.slice(-3)).toEqual(['-f', 'mpegts', 'srt://cloud.example:9000']);
    expect(pushArgs({ inputs: [{ lens: 'wide', relay: '/w' }], target, profile, copy: true }).join(' ')).not.toContain(':a');
  });

  it('a push may open its own protocols only, and a TLS push verifies the server', () => {
    const base = { inputs: [{ lens: 'wide' as const, relay: '/w' }], profile, copy: true };
    const rtmp = pushArgs({ ...base, target });
    expect(after(rtmp, '-protocol_whitelist')).toBe('rtmp,tcp');
    expect(rtmp).not.toContain('-tls_verify');
    const rtmps = pushArgs({ ...base, target: push('rtmps://cloud.example/app/key'), caFile: '/run/camd/media-ca.pem' });
    // Output options: before the URL they apply to.
    expect(rtmps.slice(-9)).toEqual(['-protocol_whitelist', 'rtmps,tls,tcp', '-tls_verify', '1', '-ca_file', '/run/camd/media-ca.pem', '-f', 'flv', 'rtmps://cloud.example/app/key']);
    expect(after(pushArgs({ ...base, target: push('rtmps://cloud.example/app/key') }), '-tls_verify')).toBe('1');
    expect(pushArgs({ ...base, target: push('rtmps://cloud.example/app/key') })).not.toContain('-ca_file');
    expect(after(pushArgs({ ...base, target: push('srt://cloud.example:9000') }), '-protocol_whitelist')).toBe('srt');
    const rtsp = pushArgs({ ...base, target: push('rtsp://cloud.example/cam') });
    expect(after(rtsp, '-protocol_whitelist')).toBe('tcp');
    expect(after(rtsp, '-rtsp_transport')).toBe('tcp');
  });

  it('talk reads its own protocols and plain audio formats only, at the owner\'s volume', () => {
    const a = talkArgs(talk('https://cloud.example/voice.aac'), { kind: 'alsa', device: 'hw:0,0' }, 80, '/etc/ssl/certs/ca-certificates.crt');
    expect(after(a, '-protocol_whitelist')).toBe('https,tls,tcp');
    expect(after(a, '-format_whitelist')).toBe(TALK_FORMATS.join(','));
    expect(after(a, '-format_whitelist')).not.toMatch(/hls|dash|concat/);
    expect(after(a, '-max_redirects')).toBe('0');
    expect(after(a, '-tls_verify')).toBe('1');
    expect(after(a, '-ca_file')).toBe('/etc/ssl/certs/ca-certificates.crt');
    // Input options: before the -i they apply to.
    expect(a.indexOf('-tls_verify')).toBeLessThan(a.indexOf('-i'));
    expect(a.indexOf('-protocol_whitelist')).toBeLessThan(a.indexOf('-i'));
    expect(after(a, '-i')).toBe('https://cloud.example/voice.aac');
    expect(after(a, '-af')).toBe('volume=0.80');
    expect(after(a, '-progress')).toBe('pipe:1');
    expect(a.slice(-3)).toEqual(['-f', 'alsa', 'hw:0,0']);
    const r = talkArgs(talk('rtsp://cloud.example/voice'), { kind: 'alsa', device: 'hw:0,0' }, 80);
    expect(after(r, '-rtsp_transport')).toBe('tcp');
    expect(after(r, '-protocol_whitelist')).toBe('tcp');
    expect(r).not.toContain('-max_redirects');
    const f = talkArgs(talk('file:///tmp/a%20b.wav'), { kind: 'wav', file: '/tmp/speaker.wav' }, 100);
    expect(after(f, '-i')).toBe('/tmp/a b.wav');
    expect(after(f, '-protocol_whitelist')).toBe('file');
    expect(f).not.toContain('-tls_verify');
  });
});
