import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { fsyncDir, removeDurably, writeFileAtomic } from '../core/atomic-file.js';
import type { ReleaseLayout } from './layout.js';

/**
 * The two files the daemon and the boot guard (scripts/release/board/camd-boot-guard, POSIX sh)
 * share in <base>/boot/. Both are FLAT JSON objects, one key per line, because the guard reads
 * them with sed: it must work when the release on trial cannot run any of its own code.
 *
 * trial.json — present while a release is on trial. The guard adds 1 to `boots` before every
 * start and switches back to `previous` once `boots > maxBoots`; the daemon of that release
 * deletes it once it has been healthy for the trial time (TrialWatch), and writes an outcome.
 * outcome.json — what happened (`updated`, `rolled-back`); the next boot's daemon puts it in
 * state.release.lastUpdate and the cloud's events, then deletes it.
 */
export const TrialSchema = z
  .object({
    release: z.string(),
    previous: z.string(),
    boots: z.number().int().min(0),
    maxBoots: z.number().int().min(1),
    since: z.number().int(),
    from: z.string(),
    to: z.string(),
    /** The cloud link was connected before the update: the trial needs it connected once again. */
    cloudWasConnected: z.boolean().optional(),
  })
  .passthrough();
export type Trial = z.infer<typeof TrialSchema>;

export const OutcomeSchema = z
  .object({
    outcome: z.enum(['updated', 'rolled-back']),
    from: z.string(),
    to: z.string(),
    release: z.string(),
    reason: z.string().optional(),
    ts: z.number().int(),
  })
  .passthrough();
export type Outcome = z.infer<typeof OutcomeSchema>;

function flat(obj: Record<string, unknown>): string {
  // One key per line and no nesting: what the guard's sed expects.
  return `${JSON.stringify(obj, null, 2)}\n`;
}

export async function readTrial(l: ReleaseLayout): Promise<Trial | undefined> {
  return readFlat(l.trialFile, TrialSchema);
}

export async function writeTrial(l: ReleaseLayout, t: Trial): Promise<void> {
  await writeFileAtomic(l.trialFile, flat(t), 0o644);
  await fsyncDir(l.bootDir);
}

export async function clearTrial(l: ReleaseLayout): Promise<void> {
  await removeDurably(l.trialFile);
}

export async function readOutcome(l: ReleaseLayout): Promise<Outcome | undefined> {
  return readFlat(l.outcomeFile, OutcomeSchema);
}

export async function writeOutcome(l: ReleaseLayout, o: Outcome): Promise<void> {
  await writeFileAtomic(l.outcomeFile, flat(o), 0o644);
  await fsyncDir(l.bootDir);
}

export async function clearOutcome(l: ReleaseLayout): Promise<void> {
  await removeDurably(l.outcomeFile);
}

async function readFlat<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return schema.parse(JSON.parse(text));
  } catch {
    // A torn or foreign file decides nothing: it is set aside for whoever looks, never trusted.
    await fs.rename(file, `${file}.bad-${Date.now()}`).catch(() => undefined);
    return undefined;
  }
}
