// Recursive on purpose (mergePatch, changedPaths): values from outside reach these only after
// assertJsonDepth (src/core/json-depth.ts, 32 levels) at the entrance — cloud payloads in
// src/cloud/inbound.ts, control socket lines in src/control/server.ts — so the recursion is bounded.
// (A hand-edited config.json reaches mergePatch unchecked at load: the owner's own file.)

/**
 * JSON Merge Patch (RFC 7386): objects merge key by key, `null` removes a key (the schema then
 * fills its default back in), anything else replaces. Arrays replace whole.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Dotted paths whose values differ between a and b (leaves and arrays compared whole). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

/** `a.b.c` + value → `{a:{b:{c:value}}}` */
export function patchFromPath(path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.').filter(Boolean);
  if (keys.length === 0) throw new Error('empty path');
  let out: unknown = value;
  for (const k of keys.reverse()) out = { [k]: out };
  return out as Record<string, unknown>;
}

export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split('.').filter(Boolean)) {
    if (!isPlainObject(cur) || !(k in cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}
