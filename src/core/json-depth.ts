import { CamdError } from './errors.js';

/**
 * How deeply nested a JSON value from outside may be (objects and arrays; `{}` is depth 1). The
 * deepest setting in the config schema is 5 levels and no command takes more than 3, so 32 is
 * generous; a 64 KiB payload could otherwise nest ~32 000 levels, and every recursive walk after
 * the parser (zod, mergePatch, changedPaths, JSON.stringify) would overflow the stack on it.
 * JSON.parse itself is iterative in V8, so checking right after it is early enough.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * The path (dotted, array indexes as numbers) of the first container nested deeper than `limit`,
 * or undefined when the value stays within it. Iterative: it must not itself run out of stack.
 */
export function tooDeepAt(value: unknown, limit = MAX_JSON_DEPTH): string | undefined {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return path;
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      if (typeof child === 'object' && child !== null) stack.push({ v: child, depth: depth + 1, path: path ? `${path}.${k}` : k });
    }
  }
  return undefined;
}

/**
 * Throws `invalid_args` (path = where it gets too deep) for a value nested deeper than `limit`.
 * Call it at every entrance where JSON comes in (cloud payloads, control socket lines), before
 * anything recursive sees the value.
 */
export function assertJsonDepth(value: unknown, limit = MAX_JSON_DEPTH): void {
  const path = tooDeepAt(value, limit);
  if (path === undefined) return;
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  throw new CamdError('invalid_args', `JSON nested deeper than ${limit} levels (at ${shown || '(root)'})`, shown);
}
