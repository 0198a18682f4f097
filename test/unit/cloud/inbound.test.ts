import { describe, expect, it } from 'vitest';
import { decodeObject, peekRequestId } from '../../../src/cloud/inbound.js';
import { CamdError } from '../../../src/core/errors.js';
import { MAX_JSON_DEPTH, tooDeepAt } from '../../../src/core/json-depth.js';
import { changedPaths, mergePatch } from '../../../src/config/merge.js';

function nested(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

function thrown(fn: () => unknown): CamdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CamdError);
    return err as CamdError;
  }
  throw new Error('did not throw');
}

describe('tooDeepAt', () => {
  it('counts containers: {} is 1, scalars 0; arrays count like objects', () => {
    expect(tooDeepAt(1, 0)).toBeUndefined();
    expect(tooDeepAt({}, 0)).toBe('');
    expect(tooDeepAt({}, 1)).toBeUndefined();
    expect(tooDeepAt({ a: [{ b: [] }] }, 4)).toBeUndefined();
    expect(tooDeepAt({ a: [{ b: [] }] }, 3)).toBe('a.0.b');
    expect(tooDeepAt({ x: 1, y: { z: { w: {} } } }, 3)).toBe('y.z.w');
  });

  it('is iterative: 100 000 levels (more than any stack) are measured without a RangeError', () => {
    const text = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const v: unknown = JSON.parse(text);
    expect(tooDeepAt(v)).toBe(Array.from({ length: MAX_JSON_DEPTH }, () => '0').join('.'));
  });
});

describe('decodeObject', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels, refuses ${MAX_JSON_DEPTH + 1} with invalid_args and the path`, () => {
    const ok = decodeObject(Buffer.from(JSON.stringify(nested(MAX_JSON_DEPTH))), 'requestId');
    expect(ok.doc).toEqual(nested(MAX_JSON_DEPTH));
    const err = thrown(() => decodeObject(Buffer.from(JSON.stringify(nested(MAX_JSON_DEPTH + 1))), 'requestId'));
    expect(err.code).toBe('invalid_args');
    expect(err.message).toMatch(/^JSON nested deeper than 32 levels \(at a(\.a){31}\)$/);
    expect(err.path).toBe(Array.from({ length: MAX_JSON_DEPTH }, () => 'a').join('.'));
  });

  it('the 64 KiB worst case (~10 000 nested objects, ~32 000 nested arrays) is invalid_args, not a stack overflow', () => {
    const deepObj = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const deepArr = `{"v":${'['.repeat(32_000)}${']'.repeat(32_000)}}`;
    for (const text of [deepObj, deepArr]) {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64 * 1024);
      const err = thrown(() => decodeObject(Buffer.from(text), 'requestId'));
      expect(err.code).toBe('invalid_args');
      expect(err.message).toMatch(/nested deeper than 32 levels/);
    }
    // What it protects: these walk recursively and would overflow on such a value.
    const v: unknown = JSON.parse(deepObj);
    expect(() => JSON.stringify(v)).toThrow(RangeError);
    expect(() => changedPaths({}, mergePatch({}, v))).toThrow(RangeError);
  });

  it('a UTF-8 byte order mark is malformed, with a message that says what to do; the requestId is still found', () => {
    const payload = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"requestId":"r-1","x":1}')]);
    const err = thrown(() => decodeObject(payload, 'requestId'));
    expect(err.toBody()).toEqual({ code: 'malformed', message: 'payload starts with a UTF-8 byte order mark; send plain UTF-8 JSON' });
    expect(peekRequestId(payload, 'requestId')).toBe('r-1');
    // A BOM-like character later in the text is just data.
    expect(decodeObject(Buffer.from('{"s":"\uFEFF"}'), 'requestId').doc).toEqual({ s: '\uFEFF' });
  });

  it('the other answers are unchanged', () => {
    expect(decodeObject(Buffer.alloc(0), 'requestId')).toEqual({ doc: {} });
    expect(thrown(() => decodeObject(Buffer.from([0xff, 0xfe]), 'requestId')).code).toBe('malformed');
    expect(thrown(() => decodeObject(Buffer.from('{'), 'requestId')).code).toBe('malformed');
    expect(thrown(() => decodeObject(Buffer.from('[1]'), 'requestId')).code).toBe('invalid_args');
    expect(decodeObject(Buffer.from('{"requestId":"q","a":{"b":2}}'), 'requestId')).toEqual({ doc: { a: { b: 2 } }, requestId: 'q' });
  });
});
