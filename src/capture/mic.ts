import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import type { Board } from '../../board/schema.js';
import type { AudioSource } from './args.js';
import type { OnceRunner } from '../supervisor/runner.js';

/**
 * The microphone as an ffmpeg input. On the sim board it is a WAV file; when the file is missing
 * a 10 s, 16 kHz mono 440 Hz tone is generated once so there is real audio to carry.
 */
export async function microphone(board: Board, procs: OnceRunner): Promise<AudioSource> {
  const mic = board.audio.microphone;
  if (mic.alsa) return { kind: 'alsa', device: mic.alsa };
  const file = mic.wavFile!;
  try {
    await fs.access(file);
  } catch {
    await fs.mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp.wav`;
    await procs.run({
      name: 'mic-tone',
      args: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000:duration=10', '-ac', '1', tmp],
      timeoutMs: 20_000,
    });
    await fs.rename(tmp, file);
  }
  return { kind: 'wav', file };
}
