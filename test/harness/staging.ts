import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * The segment ffmpeg is writing on the card right now (`camd/staging/<lens>/<run>-NNNNNN.ts`
 * that no run's segment list names as complete yet) and its size, or undefined. For tests that
 * must act "while recording" on bytes really being written rather than after a guessed delay.
 */
export function segmentBeingWritten(card: string, lens: string): { file: string; bytes: number } | undefined {
  const dir = join(card, 'camd', 'staging', lens);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const done = new Set<string>();
  for (const csv of names.filter((n) => n.endsWith('.csv'))) {
    try {
      for (const line of readFileSync(join(dir, csv), 'utf8').split('\n')) done.add(basename(line.split(',')[0]!.trim()));
    } catch {
      // Removed meanwhile: its run is over.
    }
  }
  const open = names.filter((n) => n.endsWith('.ts') && !done.has(n)).sort().at(-1);
  if (!open) return undefined;
  try {
    return { file: join(dir, open), bytes: statSync(join(dir, open)).size };
  } catch {
    return undefined;
  }
}
