import { describe, expect, it } from 'vitest';
import { captureArgs, needsReencode, type CaptureArgsInput } from '../../../src/capture/args.js';

const lens: CaptureArgsInput['lens'] = {
  source: { kind: 'file', path: '/media/clip.mp4', loop: true },
  width: 768,
  height: 432,
  fps: 10,
  codec: 'h264',
  profiles: { hd: { width: 768, height: 432, fps: 10, bitrateKbps: 1500 } },
  defaultProfile: 'hd',
};
const base: CaptureArgsInput = {
  lens,
  orientation: 'normal',
  tap: { width: 352, height: 198, fps: 5, rgbWidth: 640, rgbHeight: 360 },
  rgbSocket: '/run/camd/tap-wide.sock',
  snapshotFile: '/run/camd/snap-wide.jpg',
  snapshotFps: 1,
  relaySocket: '/run/camd/relayin-wide.sock',
  recording: { dir: '/card/camd/staging/wide', tag: 'r1700000000000', segmentSeconds: 10 },
};

const after = (args: string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];

describe('capture ffmpeg arguments', () => {
  it('copies the H.264 main stream into seamless MPEG-TS segments and the relay; taps gray on stdout and rgb on a socket', () => {
    const a = captureArgs(base);
    expect(a.slice(a.indexOf('-re'), a.indexOf('-re') + 5)).toEqual(['-re', '-stream_loop', '-1', '-i', '/media/clip.mp4']);
    expect(after(a, '-filter_complex')).toBe(
      '[0:v]split=2[vtap][vsnap];[vtap]fps=5,split=2[t1][t2];[t1]scale=352:198:flags=area,format=gray[gray];[t2]scale=640:360:flags=area,format=rgb24[rgb];[vsnap]fps=1,format=yuvj420p[snap]',
    );
    expect(a.join(' ')).toContain('-map [gray] -f rawvideo pipe:1');
    expect(a.join(' ')).toContain('-map [rgb] -f rawvideo unix:/run/camd/tap-wide.sock');
    expect(a.join(' ')).toContain('-map 0:v -c:v copy -f tee');
    const tee = a.at(-1)!.split('|');
    expect(tee[0]).toBe(
      '[f=segment:segment_time=10:segment_format=mpegts:segment_format_options=flush_packets=1:reset_timestamps=1:segment_list=/card/camd/staging/wide/r1700000000000.csv:segment_list_type=csv]/card/camd/staging/wide/r1700000000000-%06d.ts',
    );
    expect(tee[1]).toBe('[f=mpegts:onfail=ignore]unix:/run/camd/relayin-wide.sock');
  });

  it('never maps audio unless the owner enabled it (and only while recording)', () => {
    expect(captureArgs(base).join(' ')).not.toMatch(/:a|-c:a|alsa|\.wav/);
    const withMic = captureArgs({ ...base, audio: { kind: 'alsa', device: 'hw:1,0' } });
    expect(withMic.join(' ')).toContain('-f alsa -ac 1 -ar 16000 -i hw:1,0');
    expect(withMic.join(' ')).toContain('-map 1:a -c:a aac');
    const noCard = captureArgs({ ...base, recording: undefined, audio: { kind: 'alsa', device: 'hw:1,0' } });
    expect(noCard.join(' ')).not.toContain('alsa');
    expect(noCard.at(-1)).toBe('[f=mpegts:onfail=ignore]unix:/run/camd/relayin-wide.sock');
  });

  it('an orientation flips once, before everything, and forces a cheap re-encode keyed to the segment grid', () => {
    expect(needsReencode(lens.source, 'normal')).toBe(false);
    expect(needsReencode({ kind: 'v4l2', device: '/dev/video0', inputFormat: 'yuyv422' }, 'normal')).toBe(true);
    const a = captureArgs({ ...base, orientation: 'flip' });
    expect(after(a, '-filter_complex')).toMatch(/^\[0:v\]hflip,vflip,split=3\[vmain\]\[vtap\]\[vsnap\];/);
    expect(a.join(' ')).toContain('-map [vmain] -c:v libx264 -preset ultrafast');
    expect(after(a, '-force_key_frames')).toBe('expr:gte(t,n_forced*10)');
    expect(after(captureArgs({ ...base, orientation: 'mirror' }), '-filter_complex')).toMatch(/^\[0:v\]hflip,split=3/);
  });

  it('without an rgb tap there is no rgb socket; paths that would break the tee syntax are refused', () => {
    const a = captureArgs({ ...base, tap: { ...base.tap, rgbWidth: 0 }, rgbSocket: undefined });
    expect(a.join(' ')).not.toContain('rgb');
    expect(() => captureArgs({ ...base, recording: { ...base.recording!, dir: '/card/a|b' } })).toThrow(/tee/);
  });
});

// The live push and talk arguments are tested with the media URL policy: test/unit/live/args.test.ts.
