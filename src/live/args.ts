import { audioInputArgs, type AudioSource } from '../capture/args.js';
import type { LensName } from '../capture/types.js';
import { tlsArgs } from './tls.js';
import { pushFormat } from './url.js';
import type { MediaTarget } from './url-policy.js';

export interface Profile {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
}

export interface PushArgsInput {
  /** Relay socket per lens, in order. */
  inputs: { lens: LensName; relay: string }[];
  /** Where the push goes, as the media URL policy let it through (url-policy.ts). */
  target: Pick<MediaTarget, 'url' | 'protocols' | 'verifyTls'>;
  /** The CA file a TLS push verifies the server against (tls.ts); none: GnuTLS's system trust. */
  caFile?: string;
  profile: Profile;
  /** Mono at the source's own profile: the stream goes out as recorded, no encode. */
  copy: boolean;
  /** The microphone: travels with the live push only (never recorded unless the owner enabled it). */
  audio?: AudioSource;
}

function encode(p: Profile, kbps: number): string[] {
  return [
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`, '-g', String(Math.max(1, Math.round(p.fps * 2))),
  ];
}

/**
 * A live push: "play mono" sends one lens (copied as recorded when the quality is the source's
 * own, otherwise scaled and encoded to the chosen profile); "play sync" sends both lenses side by
 * side in one picture, which works over every protocol (RTMP carries one video stream only).
 * Progress goes to stdout (`-progress pipe:1`) so the daemon knows frames are leaving.
 */
export function pushArgs(i: PushArgsInput): string[] {
  const p = i.profile;
  // The relay starts every reader at a keyframe with PAT/PMT (ts-gop.ts): a short probe is enough.
  const ins = i.inputs.flatMap((x) => ['-thread_queue_size', '512', '-probesize', '500000', '-analyzeduration', '1000000', '-f', 'mpegts', '-i', `unix:${x.relay}`]);
  const audioIdx = i.inputs.length;
  let video: string[];
  if (i.inputs.length === 1) {
    video = i.copy ? ['-map', '0:v', '-c:v', 'copy'] : ['-map', '0:v', '-vf', `scale=${p.width}:${p.height},fps=${p.fps}`, ...encode(p, p.bitrateKbps)];
  } else {
    const graph = `${i.inputs.map((_, n) => `[${n}:v]scale=-2:${p.height}[v${n}]`).join(';')};${i.inputs.map((_, n) => `[v${n}]`).join('')}hstack=inputs=${i.inputs.length},fps=${p.fps}[v]`;
    video = ['-filter_complex', graph, '-map', '[v]', ...encode(p, p.bitrateKbps * i.inputs.length)];
  }
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:1', '-stats_period', '0.5',
    ...ins,
    ...(i.audio ? audioInputArgs(i.audio) : []),
    ...video,
    ...(i.audio ? ['-map', `${audioIdx}:a`, '-c:a', 'aac', '-b:a', '48k', '-ac', '1', '-ar', '44100'] : []),
    ...outputNet(i.target, i.caFile),
    ...pushFormat(i.target.url),
    i.target.url.href,
  ];
}

/**
 * Output options that bound what the push may open. `-protocol_whitelist` given as an output
 * option reaches the output's URL context (avio_open2) or, for RTSP, the muxer's connections:
 * measured with ffmpeg 5.1, `-protocol_whitelist tcp` refuses an rtmp:// output ("Protocol 'rtmp'
 * not on whitelist") and `rtmps,tcp` refuses its tls://. So an rtmp push can open rtmp and tcp
 * and nothing else, whatever the URL says.
 */
function outputNet(t: PushArgsInput['target'], caFile: string | undefined): string[] {
  return ['-protocol_whitelist', t.protocols.join(','), ...(t.verifyTls ? tlsArgs(caFile) : [])];
}

export type Speaker = { kind: 'alsa'; device: string } | { kind: 'wav'; file: string };

/**
 * The demuxers talk may use: audio files and the containers of live streams. Not hls, dash,
 * concat and the like: they open further URLs named inside the stream (a playlist's segments)
 * that the media URL policy never saw — a public playlist could point them at 127.0.0.1.
 */
export const TALK_FORMATS = ['wav', 'mp3', 'aac', 'ogg', 'flac', 'mov', 'matroska', 'mpegts', 'flv', 'rtsp'] as const;

/**
 * Talk: audio from a URL to the speaker, paced at real time, at the owner's volume. Progress on
 * stdout (`-progress pipe:1`) tells the daemon when audio plays.
 */
export function talkArgs(target: Pick<MediaTarget, 'url' | 'protocols' | 'verifyTls'>, speaker: Speaker, volumePct: number, caFile?: string): string[] {
  const { url } = target;
  const src = url.protocol === 'file:' ? decodeURIComponent(url.pathname) : url.href;
  const http = url.protocol === 'http:' || url.protocol === 'https:';
  const rtsp = url.protocol === 'rtsp:' || url.protocol === 'rtsps:';
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:1', '-stats_period', '0.5',
    '-protocol_whitelist', target.protocols.join(','), '-format_whitelist', TALK_FORMATS.join(','),
    // A redirect would lead to a host the policy never checked.
    ...(http ? ['-max_redirects', '0'] : []),
    // RTP over UDP would bind local ports that take packets from anyone.
    ...(rtsp ? ['-rtsp_transport', 'tcp'] : []),
    ...(target.verifyTls ? tlsArgs(caFile) : []),
    '-re', '-i', src,
    '-vn', '-ac', '1', '-ar', '16000', '-af', `volume=${(volumePct / 100).toFixed(2)}`,
    ...(speaker.kind === 'alsa' ? ['-f', 'alsa', speaker.device] : ['-f', 'wav', '-y', speaker.file]),
  ];
}
