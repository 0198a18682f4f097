import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';
// Type only (erased): the module itself is imported lazily in probeMedia.
import type { FfprobeData } from 'fluent-ffmpeg';

/**
 * The one place camd names ffmpeg and ffprobe. Every invocation — the supervised capture child,
 * the run-once encodes and pushes (through the process runner, whose default program is FFMPEG),
 * the clip reader and still decoder of the eval tool and tests — takes its program from here, and
 * probing a file happens only here. Arguments stay with their owners (src/capture/args.ts,
 * src/live/args.ts…): this module knows programs, not pipelines.
 *
 * Why it matters: probing goes through `fluent-ffmpeg`, which the design card names but whose
 * upstream is archived. Only its `ffprobe` wrapper is used (it runs
 * `ffprobe -show_streams -show_format -of json <file>` and parses the JSON), and only by
 * `probeMedia` below, which hands out camd's own narrow `MediaProbe` — so replacing it with a
 * direct `ffprobe -v error -print_format json -show_streams -show_format` execFile is a change
 * to this file alone. It is imported lazily: the daemon never probes, so it never loads it.
 */

/** Program names (resolved on PATH, as every child of camd is: the unit sets PATH). */
export const FFMPEG = 'ffmpeg';
export const FFPROBE = 'ffprobe';

/** ffmpeg as a direct child, for tools that read its pipes themselves (src/detect/clip-reader.ts). */
export function spawnFfmpeg(args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn(FFMPEG, [...args], options);
}

const execFileP = promisify(execFile);

/** Runs ffmpeg to its end and returns its stdout as bytes (stills, the eval set's renders). */
export async function runFfmpeg(args: readonly string[], opts: { maxBuffer?: number } = {}): Promise<Buffer> {
  const { stdout } = await execFileP(FFMPEG, [...args], { encoding: 'buffer', maxBuffer: opts.maxBuffer ?? 1 << 20 });
  return stdout;
}

/** What camd reads from a probe: the first video stream and the container's length. */
export interface MediaProbe {
  video?: { width: number; height: number; fps: number };
  durationSec: number;
}

/** ffprobe (through fluent-ffmpeg) puts its whole banner in the message; the cause is its last line. */
const lastLine = (text: string): string => text.trim().split('\n').pop() ?? text;
const withPath = (path: string, cause: string): string => (cause.includes(path) ? cause : `${path}: ${cause}`);

/** `30000/1001` → 29.97; 0 when ffprobe reports no rate. */
export function parseRate(rate: string | undefined): number {
  const [num, den] = (rate ?? '0/1').split('/').map(Number);
  return num && den ? num / den : 0;
}

/** Size, rate and length of a media file. Errors name the file and ffprobe's last line. */
export async function probeMedia(path: string): Promise<MediaProbe> {
  // Lazy: the wrapper (and its dependencies) is paid for only by the tools that probe.
  const { default: ffmpeg } = await import('fluent-ffmpeg');
  ffmpeg.setFfprobePath(FFPROBE);
  const meta = await new Promise<FfprobeData>((resolve, reject) =>
    ffmpeg.ffprobe(path, (err: Error | null, data: FfprobeData) => (err ? reject(new Error(withPath(path, lastLine(err.message)))) : resolve(data))),
  );
  const s = meta.streams.find((x) => x.codec_type === 'video');
  const durationSec = Number(meta.format.duration ?? 0);
  if (!s?.width || !s.height) return { durationSec };
  return { video: { width: s.width, height: s.height, fps: parseRate(s.r_frame_rate) }, durationSec };
}
