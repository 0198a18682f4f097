import { audioInputArgs, type AudioSource } from '../capture/args.js';
import type { LensName } from '../capture/types.js';
import { pushFormat, talkProtocolWhitelist } from './url.js';

export interface Profile {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
}

export interface PushArgsInput {
  /** Relay socket per lens, in order. */
  inputs: { lens: LensName; relay: string }[];
  url: URL;
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
    ...pushFormat(i.url),
    i.url.href,
  ];
}

export type Speaker = { kind: 'alsa'; device: string } | { kind: 'wav'; file: string };

/** Talk: audio from a URL to the speaker, paced at real time, at the owner's volume. */
export function talkArgs(url: URL, speaker: Speaker, volumePct: number): string[] {
  const src = url.protocol === 'file:' ? decodeURIComponent(url.pathname) : url.href;
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats',
    '-protocol_whitelist', talkProtocolWhitelist(url), '-re', '-i', src,
    '-vn', '-ac', '1', '-ar', '16000', '-af', `volume=${(volumePct / 100).toFixed(2)}`,
    ...(speaker.kind === 'alsa' ? ['-f', 'alsa', speaker.device] : ['-f', 'wav', '-y', speaker.file]),
  ];
}
