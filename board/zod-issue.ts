import type { z } from 'zod';

// zod issue formatting, shared by the board file loader and the daemon's schemas (src/core/schema-util.ts
// re-exports it): it lives with the board because board/ must not import src/.

/** `['detection', 'areas', 0, 'x']` → `detection.areas[0].x` */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** One readable line per issue, with unknown keys spelled out (zod reports them on the parent). */
export function describeIssue(issue: z.core.$ZodIssue): { path: string; message: string } {
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    const base = formatIssuePath(issue.path);
    const first = keys[0] ?? '';
    return { path: base ? `${base}.${first}` : first, message: `unknown key${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}` };
  }
  return { path: formatIssuePath(issue.path), message: issue.message };
}
