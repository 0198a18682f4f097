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
 * The path of the first own `__proto__` key, or undefined. JSON.parse makes it an ordinary own
 * property, but zod's object and record parsing skip it, so a strict schema would not refuse it:
 * the key would vanish without an error. Iterative like tooDeepAt.
 */
export function protoKeyAt(value: unknown): string | undefined {
  const stack: { v: unknown; path: string }[] = [{ v: value, path: '' }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      const at = path ? `${path}.${k}` : k;
      if (k === '__proto__') return at;
      stack.push({ v: child, path: at });
    }
  }
  return undefined;
}

/**
 * Throws `invalid_args` for a value nested deeper than `limit` (path = where it gets too deep) or
 * holding a `__proto__` key (path = that key). Call it at every entrance where JSON comes in
 * (cloud payloads, control socket lines), before anything recursive sees the value. Call it on
 * parsed input only: the walk is bounded by `limit` only for the depth check, so it runs first.
 */
export function assertJsonDepth(value: unknown, limit = MAX_JSON_DEPTH): void {
  const path = tooDeepAt(value, limit);
  if (path !== undefined) {
    const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
    throw new CamdError('invalid_args', `JSON nested deeper than ${limit} levels (at ${shown || '(root)'})`, shown);
  }
  const proto = protoKeyAt(value);
  if (proto !== undefined) throw new CamdError('invalid_args', `key "__proto__" is not allowed (at ${proto})`, proto);
}
