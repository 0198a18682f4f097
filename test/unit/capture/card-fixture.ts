import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/** A size-limited tmpfs as the microSD card (the tests run as root). */
export function mountCard(dir: string, size = '20m'): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
}

export function remount(dir: string, mode: 'ro' | 'rw'): void {
  execFileSync('mount', ['-o', `remount,${mode}`, dir]);
}

export function unmountCard(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // Not mounted (any more).
  }
}

