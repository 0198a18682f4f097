import fc from 'fast-check';

/**
 * Payload generation for the fuzz test, driven by the JSON Schemas the daemon itself hands out
 * (`commands`, `config.schema`): valid values, near misses (one value wrong in an otherwise
 * plausible document) and proofs that a document is invalid.
 *
 * fast-check supplies seeded, reproducible generation biased towards edge cases (empty and
 * boundary strings, -0, huge numbers, odd keys), which is what a fuzzer wants; the schema walk
 * decides *where* to aim.
 */
export type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  items?: Schema;
  prefixItems?: Schema[];
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  anyOf?: Schema[];
  oneOf?: Schema[];
  default?: unknown;
};

/**
 * `merge`: the document is a JSON merge patch over a valid config (config.set, config/desired):
 * `null` resets a key to its default and missing keys keep their value, so neither proves
 * anything wrong.
 */
export interface Mode {
  merge: boolean;
}

/** Keys that have broken merge and validation code elsewhere (prototype pollution). */
export const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'a.b', '$requestId', 'requestId'];

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const types = (s: Schema): string[] | undefined => (s.type === undefined ? undefined : Array.isArray(s.type) ? s.type : [s.type]);

function matchesType(t: string, v: unknown): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isPlain(v);
    default:
      return true;
  }
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * True only when `v` certainly fails `s` (a conservative validator: a construct it does not
 * know proves nothing). Payloads for commands that would change something are only sent when
 * this holds, so the fuzzer can never reboot, reset or reconfigure the camera by luck.
 */
export function surelyInvalid(s: Schema, v: unknown, mode: Mode = { merge: false }): boolean {
  if (mode.merge && v === null) return false;
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.every((a) => surelyInvalid(a, v, mode));
  if ('const' in s) return !same(v, s.const);
  if (s.enum) return !s.enum.some((e) => same(e, v));
  const ts = types(s);
  if (!ts) return false;
  if (!ts.some((t) => matchesType(t, v))) return true;
  if (typeof v === 'number') {
    if (ts.includes('integer') && !ts.includes('number') && !Number.isInteger(v)) return true;
    if (s.minimum !== undefined && v < s.minimum) return true;
    if (s.maximum !== undefined && v > s.maximum) return true;
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) return true;
    if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) return true;
    return false;
  }
  if (typeof v === 'string') {
    if (s.minLength !== undefined && v.length < s.minLength) return true;
    if (s.maxLength !== undefined && v.length > s.maxLength) return true;
    if (s.pattern !== undefined && !new RegExp(s.pattern).test(v)) return true;
    return false;
  }
  if (Array.isArray(v)) {
    if (s.prefixItems) {
      if (v.length !== s.prefixItems.length && !s.items) return true;
      if (s.prefixItems.some((p, i) => i < v.length && surelyInvalid(p, v[i], { merge: false }))) return true;
    }
    if (s.minItems !== undefined && v.length < s.minItems) return true;
    if (s.maxItems !== undefined && v.length > s.maxItems) return true;
    if (s.items && !s.prefixItems && v.some((x) => surelyInvalid(s.items!, x, { merge: false }))) return true;
    return false;
  }
  if (isPlain(v)) {
    const props = s.properties ?? {};
    for (const [k, x] of Object.entries(v)) {
      // The control socket's request envelope (a zod record) drops an own `__proto__` key before
      // the command's schema sees the arguments: it proves nothing there.
      if (k === '__proto__') continue;
      if (Object.hasOwn(props, k)) {
        if (surelyInvalid(props[k]!, x, mode)) return true;
      } else if (s.additionalProperties === false) {
        // In a merge patch, null on a key that does not exist removes nothing: still valid.
        if (!(mode.merge && x === null)) return true;
      } else if (isPlain(s.additionalProperties) && surelyInvalid(s.additionalProperties, x, mode)) {
        return true;
      }
    }
    if (!mode.merge) {
      for (const k of s.required ?? []) if (!(k in v) && props[k] && !('default' in props[k])) return true;
    }
    return false;
  }
  return false;
}

const SIMPLE = fc.jsonValue({ maxDepth: 2 });
const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.constantFrom('', ' ', '\u0000', '../../etc/passwd', '%s%n', '${HOME}', '\u202e', 'null', 'true', '1e999', '-0', '🙂'.repeat(20)),
);
const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...NASTY_KEYS));

/** A value that satisfies `s` (best effort for patterns; callers do not rely on it being valid). */
export function validArb(s: Schema, depth = 0): fc.Arbitrary<unknown> {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((a) => validArb(a, depth + 1)));
  if ('const' in s) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const t = types(s)?.[0];
  switch (t) {
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'integer':
      return fc.integer({ min: Math.ceil(s.minimum ?? -1_000_000), max: Math.floor(s.maximum ?? 1_000_000) });
    case 'number':
      return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'string': {
      const min = s.minLength ?? 0;
      const max = Math.min(s.maxLength ?? 40, Math.max(min, 40));
      if (s.pattern) {
        // Best effort, never filtered (a filter that rarely passes would stall generation):
        // strings from the pattern itself where fast-check can parse it, plus plain words.
        const words = fc.constantFrom('a', 'x1', 'test', 'fuzz-1', 'a'.repeat(Math.max(1, min)));
        try {
          return fc.oneof(fc.stringMatching(new RegExp(s.pattern), { maxLength: max }), words);
        } catch {
          return words;
        }
      }
      return fc.string({ minLength: min, maxLength: max });
    }
    case 'array': {
      if (s.prefixItems) return fc.tuple(...s.prefixItems.map((p) => validArb(p, depth + 1)));
      const min = s.minItems ?? 0;
      return fc.array(s.items ? validArb(s.items, depth + 1) : SIMPLE, { minLength: min, maxLength: Math.max(min, Math.min(s.maxItems ?? 4, 4)) });
    }
    case 'object': {
      if (s.properties && depth < 6) {
        const model: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, c] of Object.entries(s.properties)) model[k] = validArb(c, depth + 1);
        const requiredKeys = (s.required ?? []).filter((k) => s.properties![k] && !('default' in s.properties![k]));
        return fc.record(model, { requiredKeys });
      }
      const value = isPlain(s.additionalProperties) ? validArb(s.additionalProperties, depth + 1) : SIMPLE;
      return fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), value, { maxKeys: 3 });
    }
    default:
      return SIMPLE;
  }
}

/** Whether surelyInvalid can prove anything at this node (an unconstrained `{}` accepts all). */
export function canBreak(s: Schema): boolean {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.every(canBreak);
  return 'const' in s || !!s.enum || types(s) !== undefined;
}

/** Values that break `s` at this very node (filtered through surelyInvalid). */
export function violationArb(s: Schema, mode: Mode): fc.Arbitrary<unknown> {
  if (!canBreak(s)) throw new Error('violationArb: an unconstrained schema node cannot be broken');
  const options: fc.Arbitrary<unknown>[] = [fc.jsonValue({ maxDepth: 2 }), oddString, fc.constantFrom(0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 2, true, false, [], {}, '0', 'true')];
  const n = s;
  if (n.minimum !== undefined) options.push(fc.constantFrom(n.minimum - 1, n.minimum - 1e-9, -Number.MAX_VALUE));
  if (n.maximum !== undefined) options.push(fc.constantFrom(n.maximum + 1, n.maximum + 1e-9, Number.MAX_VALUE));
  if (types(n)?.includes('integer')) options.push(fc.double({ min: n.minimum ?? -10, max: n.maximum ?? 10, noNaN: true, noDefaultInfinity: true }));
  if (n.maxLength !== undefined) options.push(fc.constant('x'.repeat(Math.min(n.maxLength + 1, 60_000))), fc.string({ minLength: n.maxLength + 1, maxLength: Math.min(n.maxLength + 8, 60_000), unit: 'grapheme-ascii' }));
  if (n.minLength) options.push(fc.string({ maxLength: n.minLength - 1, unit: 'grapheme-ascii' }));
  if (n.pattern) options.push(oddString, fc.string({ minLength: 65, maxLength: 80 }));
  if (n.enum) options.push(...n.enum.filter((e): e is string => typeof e === 'string').map((e) => fc.constantFrom(e.toUpperCase(), `${e} `, `${e}x`, e.slice(1))));
  if (n.maxItems !== undefined) options.push(fc.array(n.items ? validArb(n.items) : SIMPLE, { minLength: n.maxItems + 1, maxLength: n.maxItems + 3 }));
  if (n.minItems) options.push(fc.constant([]));
  if (n.items && canBreak(n.items)) options.push(fc.array(violationArb(n.items, { merge: false }), { minLength: 1, maxLength: 2 }));
  if (n.prefixItems) options.push(fc.tuple(...n.prefixItems.map((p) => validArb(p)), SIMPLE), fc.constant([0]));
  if (n.properties || n.additionalProperties === false) {
    options.push(fc.tuple(validArb(n), key.filter((k) => !Object.hasOwn(n.properties ?? {}, k)), SIMPLE).map(([v, k, x]) => ({ ...(isPlain(v) ? v : {}), [k]: x })));
  }
  return fc.oneof(...options).filter((v) => surelyInvalid(n, v, mode));
}

/**
 * A document that is right except for one thing somewhere: walks down one property at a time
 * (keeping some valid siblings) and breaks the node it stops at.
 */
export function nearMissArb(s: Schema, mode: Mode, depth = 0): fc.Arbitrary<unknown> {
  const props = s.properties ? Object.keys(s.properties).filter((k) => canBreak(s.properties![k]!)) : [];
  if (props.length === 0 || depth > 8) return violationArb(s, mode);
  const down = fc
    .tuple(fc.constantFrom(...props), fc.boolean())
    .chain(([p, siblings]) =>
      fc.tuple(fc.constant(p), nearMissArb(s.properties![p]!, mode, depth + 1), siblings ? validArb(s) : fc.constant({})),
    )
    .map(([p, bad, base]) => ({ ...(isPlain(base) ? base : {}), [p]: bad }));
  return fc.oneof({ arbitrary: down, weight: 4 }, { arbitrary: violationArb(s, mode), weight: 1 }).filter((v) => surelyInvalid(s, v, mode));
}

/** Deeply nested JSON text (arrays or objects) of about `bytes` bytes, built as text. */
export function deepJson(levels: number, kind: 'array' | 'object', inner = '0'): string {
  return kind === 'array' ? `${'['.repeat(levels)}${inner}${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}${inner}${'}'.repeat(levels)}`;
}

/** Raw payloads no JSON parser should accept, or that no command can: bytes, not values. */
export const RAW_BAD: Buffer[] = [
  Buffer.from('{'),
  Buffer.from('{"a":1,}'),
  Buffer.from("{'a':1}"),
  Buffer.from('NaN'),
  Buffer.from('{"a":NaN}'),
  Buffer.from('{"a":1e99999}'),
  // A BOM is stripped by the UTF-8 decoder: what follows must itself be invalid for every command.
  Buffer.from('\ufeff{"zz_bom":1}'),
  Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
  Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from('{"a":"\\ud800"}'),
  Buffer.from('\u0000'),
  Buffer.from('[]'),
  Buffer.from('"just a string"'),
  Buffer.from('12345'),
  Buffer.from('null'),
  Buffer.from('true'),
  Buffer.from(' \n\t '),
  Buffer.from('{"a":1}{"b":2}'),
  Buffer.from('{"a":1}\n{"b":2}'),
];
