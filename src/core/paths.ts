import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repo (or release) root for a module of this project: sources run under tsx from `src/…`,
 * compiled ones from `dist/src/…`; the root is the folder holding `src` or `dist`.
 */
export function projectRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  const parts = dir.split(sep);
  const at = parts.lastIndexOf('src');
  if (at > 0) dir = parts.slice(0, at).join(sep) || sep;
  return parts[at - 1] === 'dist' ? resolve(dir, '..') : dir;
}
