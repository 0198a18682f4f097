import { describe, expect, it } from 'vitest';
import { ffmpegFailure } from '../../../src/live/ffmpeg-error.js';

const fail = (stderr: string[]) => ffmpegFailure({ stderr, code: 1, signal: null });

describe('ffmpeg failures as the caller sees them', () => {
  it('names a TLS refusal as such, ahead of the generic error', () => {
    // ffmpeg 5.1 (GnuTLS) pushing to a server with a self-signed certificate, as measured.
    const t = fail([
      '[tls @ 0x5645cf157200] Peer certificate failed verification',
      '[rtmps @ 0x5645cf159800] Cannot open connection tls://127.0.0.1:19402',
      'rtmps://alice:S3cretPW@127.0.0.1:19402/app/STREAMKEY: Input/output error',
    ]);
    expect(t).toMatch(/^TLS: the server was not accepted \(Peer certificate failed verification\)/);
    expect(t).not.toMatch(/alice|S3cretPW|STREAMKEY/);
    expect(fail(["[tls @ 0x55d3] The certificate's owner does not match hostname 127.0.0.1", 'x: Input/output error'])).toMatch(/^TLS: .*does not match hostname/);
  });

  it('redacts the URL ffmpeg quotes and keeps the last words otherwise', () => {
    const t = fail(['[srt @ 0x55] Connection to srt://h:9000?passphrase=SECRETPASS failed: Input/output error', 'srt://h:9000?passphrase=SECRETPASS: Input/output error']);
    expect(t).not.toContain('SECRETPASS');
    expect(t).toContain('srt: Connection to srt://h:9000?passphrase=***');
    // The TLS layer's plain I/O error (the peer hung up) is not a refusal of the server.
    expect(fail(['[tls @ 0x55] IO error: End of file', 'Could not write header for output file #0'])).not.toMatch(/^TLS/);
    expect(ffmpegFailure({ stderr: [], code: null, signal: 'SIGKILL' })).toBe('killed by SIGKILL');
  });
});
