import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A size-limited tmpfs as the microSD card (the tests run as root). */
export function mountCard(dir: string, size = '20m'): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
}

/**
 * Remounts the card. The kernel's own errors=remount-ro is forced, but `mount -o remount,ro`
 * refuses (EBUSY) while a file on it is open for writing — e.g. a finished segment being moved
 * from staging at that instant — so a refused ro remount is retried until that write ends.
 */
export async function remount(dir: string, mode: 'ro' | 'rw', deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' });
      return;
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      if (Date.now() > until || !stderr.includes('busy')) throw err;
      await sleep(50);
    }
  }
}

export function unmountCard(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // Not mounted (any more).
  }
}

