import type { z } from 'zod';
import { CamdError } from './errors.js';

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

/** Parse or throw a CamdError('invalid_args') naming the first offending path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const first = describeIssue(res.error.issues[0]!);
  const path = [prefix, first.path].filter(Boolean).join('.');
  const more = res.error.issues.length > 1 ? ` (and ${res.error.issues.length - 1} more)` : '';
  throw new CamdError('invalid_args', `${path || '(root)'}: ${first.message}${more}`, path);
}
