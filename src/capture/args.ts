import type { Board } from '../../board/schema.js';
import type { Orientation } from './types.js';

type LensDef = Board['video']['wide'];
export type VideoSource = LensDef['source'];

export interface TapSettings {
  width: number;
  height: number;
  fps: number;
  /** 0 = no RGB tap. */
  rgbWidth: number;
  rgbHeight: number;
}

/** The microphone: ALSA on a board, a WAV file looped on the sim board. */
export type AudioSource = { kind: 'alsa'; device: string } | { kind: 'wav'; file: string };

export interface CaptureArgsInput {
  lens: LensDef;
  orientation: Orientation;
  tap: TapSettings;
  /** Unix socket the daemon listens on for the rgb24 tap (required when tap.rgbWidth > 0). */
  rgbSocket?: string;
  /** Always-fresh full-size JPEG (written atomically) that snapshots copy. */
  snapshotFile: string;
  snapshotFps: number;
  /** Unix socket the daemon listens on for the main stream (MPEG-TS) that live pushes read. */
  relaySocket: string;
  /** Present when the card is in use: segments go to `dir` as `<tag>-NNNNNN.ts`, listed in `<tag>.csv`. */
  recording?: { dir: string; tag: string; segmentSeconds: number };
  /** Only when the owner turned audio recording on (privacy: never otherwise). */
  audio?: AudioSource;
}

/** ffmpeg filter for an orientation: flip = rotate 180° (ceiling mount), mirror = left-right. */
export function orientationFilter(o: Orientation): string {
  return o === 'flip' ? 'hflip,vflip' : o === 'mirror' ? 'hflip' : '';
}

/** Sources whose compressed stream can be recorded as it is (no decode/encode on the way to the card). */
export function sourceIsCompressed(src: VideoSource): boolean {
  return src.kind !== 'v4l2' || ['h264', 'hevc', 'h265'].includes(src.inputFormat);
}

/**
 * Whether the main stream must be re-encoded. On the board the SoC's ISP flips the image before
 * the hardware encoder, so orientation costs nothing there and the board file's source already
 * delivers it flipped. The simulated board has no ISP: flipping a file's H.264 means decoding and
 * encoding it again (libx264 ultrafast), which is the one case that costs CPU — so it is done
 * only when an orientation is set.
 */
export function needsReencode(src: VideoSource, o: Orientation): boolean {
  return o !== 'normal' || !sourceIsCompressed(src);
}

export function inputArgs(src: VideoSource): string[] {
  switch (src.kind) {
    case 'file':
      // -re: a file plays at the camera's real rate, as a live source would.
      return ['-re', ...(src.loop ? ['-stream_loop', '-1'] : []), '-i', src.path];
    case 'v4l2':
      return ['-f', 'v4l2', '-input_format', src.inputFormat, '-i', src.device];
    case 'rtsp':
      return ['-rtsp_transport', 'tcp', '-i', src.url];
  }
}

export function audioInputArgs(a: AudioSource): string[] {
  return a.kind === 'alsa' ? ['-f', 'alsa', '-ac', '1', '-ar', '16000', '-i', a.device] : ['-re', '-stream_loop', '-1', '-i', a.file];
}

/** Characters that would break the tee muxer's `[opts]path|…` syntax. */
function teeSafe(path: string): string {
  if (/[:|[\]\\'=]/.test(path)) throw new Error(`path not usable in an ffmpeg tee output: ${path}`);
  return path;
}

export function encodeArgs(lens: LensDef, gopSeconds: number, segmentSeconds?: number): string[] {
  const profile = lens.profiles[lens.defaultProfile]!;
  const fps = Math.max(1, Math.round(lens.fps));
  return [
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-b:v', `${profile.bitrateKbps}k`, '-maxrate', `${profile.bitrateKbps}k`, '-bufsize', `${profile.bitrateKbps * 2}k`,
    '-g', String(fps * gopSeconds),
    // Keyframes exactly on the segment grid: segments then cut where they should.
    ...(segmentSeconds ? ['-force_key_frames', `expr:gte(t,n_forced*${segmentSeconds})`] : []),
  ];
}

/**
 * The one ffmpeg per lens: decode once, and write
 *  1. the gray tap (raw) on stdout,
 *  2. the rgb24 tap (raw) on a Unix socket,
 *  3. a full-size JPEG once per 1/snapshotFps, atomically replaced (snapshots copy it),
 *  4. the main stream — copied, or re-encoded when an orientation is set — through the tee
 *     muxer to the card's staging segments (when the card is in use) and to the live relay
 *     socket. Segments are MPEG-TS: a segment cut short by kill -9 or a power cut stays
 *     playable up to the cut; completed ones are listed in the run's CSV, so an unlisted one is
 *     known to be incomplete. The segment muxer cuts on keyframes only and every packet lands in
 *     exactly one segment: nothing is lost at boundaries. A relay failure never stops recording
 *     (onfail=ignore).
 * Audio is mapped only when `audio` is given.
 */
export function captureArgs(i: CaptureArgsInput): string[] {
  const o = orientationFilter(i.orientation);
  const reencode = needsReencode(i.lens.source, i.orientation);
  const rgb = i.tap.rgbWidth > 0 && i.tap.rgbHeight > 0;
  if (rgb && !i.rgbSocket) throw new Error('rgb tap needs a socket');
  const branches = reencode ? ['vmain', 'vtap', 'vsnap'] : ['vtap', 'vsnap'];
  // area: a true average when shrinking; point-sampling scalers alias fine detail into noise the change detector would see.
  const scale = (w: number, h: number): string => `scale=${w}:${h}:flags=area`;
  const graph = [
    `[0:v]${o ? `${o},` : ''}split=${branches.length}${branches.map((b) => `[${b}]`).join('')}`,
    rgb
      ? `[vtap]fps=${i.tap.fps},split=2[t1][t2];[t1]${scale(i.tap.width, i.tap.height)},format=gray[gray];[t2]${scale(i.tap.rgbWidth, i.tap.rgbHeight)},format=rgb24[rgb]`
      : `[vtap]fps=${i.tap.fps},${scale(i.tap.width, i.tap.height)},format=gray[gray]`,
    `[vsnap]fps=${i.snapshotFps},format=yuvj420p[snap]`,
  ].join(';');

  const slaves: string[] = [];
  if (i.recording) {
    const { dir, tag, segmentSeconds } = i.recording;
    const d = teeSafe(dir);
    slaves.push(
      // flush_packets: every packet reaches the card at once, so kill -9 or a power cut loses
      // at most the packet in flight, not an I/O buffer's worth of seconds.
      `[f=segment:segment_time=${segmentSeconds}:segment_format=mpegts:segment_format_options=flush_packets=1:reset_timestamps=1:segment_list=${d}/${tag}.csv:segment_list_type=csv]${d}/${tag}-%06d.ts`,
    );
  }
  slaves.push(`[f=mpegts:onfail=ignore]unix:${teeSafe(i.relaySocket)}`);
  const audio = i.audio && i.recording ? i.audio : undefined;

  return [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning', '-y',
    ...inputArgs(i.lens.source),
    ...(audio ? audioInputArgs(audio) : []),
    '-filter_complex', graph,
    '-map', '[gray]', '-f', 'rawvideo', 'pipe:1',
    ...(rgb ? ['-map', '[rgb]', '-f', 'rawvideo', `unix:${i.rgbSocket}`] : []),
    '-map', '[snap]', '-q:v', '4', '-update', '1', '-atomic_writing', '1', '-f', 'image2', i.snapshotFile,
    '-map', reencode ? '[vmain]' : '0:v',
    ...(reencode ? encodeArgs(i.lens, 2, i.recording?.segmentSeconds) : ['-c:v', 'copy']),
    ...(audio ? ['-map', '1:a', '-c:a', 'aac', '-b:a', '48k', '-ac', '1'] : []),
    '-f', 'tee', slaves.join('|'),
  ];
}
