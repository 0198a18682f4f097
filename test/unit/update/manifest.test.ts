import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CamdError } from '../../../src/core/errors.js';
import {
  canonical, compareVersions, keyIdOf, loadTrustedKeys, parseTrustedKeys, publicKeyBase64, signManifest, verifyManifest, versionPolicy, type Manifest, type TrustedKeys,
} from '../../../src/update/manifest.js';
import { testKeys, trustedKeysJson } from '../../harness/releases.js';

const tmp = mkdtempSync(join(tmpdir(), 'camd-manifest-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const A = testKeys({ dir: join(tmp, 'a') });
const B = testKeys({ dir: join(tmp, 'b') });

const manifest: Manifest = {
  name: 'camd', version: '1.2.3', arch: 'arm64', node: '20.20.2', commit: 'abc123', builtAt: '2026-12-02T03:00:00Z',
  tarball: { name: 'camd-1.2.3-linux-arm64.tar.gz', bytes: 53371234, sha256: 'ab'.repeat(32) },
  minVersion: '0.1.0',
};
const signed = (m: unknown = manifest, ...keys: typeof A[]): string =>
  JSON.stringify({ manifest: m, signatures: (keys.length ? keys : [A]).map((k) => signManifest(m as Manifest, k.privateKeyPem)) });

function trust(keys: typeof A[], retired: typeof A[] = []): TrustedKeys {
  return parseTrustedKeys(JSON.parse(trustedKeysJson(keys, retired)), 'test keys');
}

function refusal(f: () => unknown): CamdError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CamdError);
    return err as CamdError;
  }
  throw new Error('expected a refusal, got none');
}

describe('verifyManifest', () => {
  it('accepts a manifest signed by a trusted key and names the key', () => {
    const r = verifyManifest(signed(), A.trusted);
    expect(r).toEqual({ manifest, keyId: A.keyId });
    // Bytes and parsed JSON too.
    expect(verifyManifest(Buffer.from(signed()), A.trusted).keyId).toBe(A.keyId);
    expect(verifyManifest(JSON.parse(signed()), A.trusted).keyId).toBe(A.keyId);
  });

  it('refuses a signature by a key it does not trust', () => {
    const e = refusal(() => verifyManifest(signed(manifest, B), A.trusted));
    expect(e.code).toBe('forbidden');
    expect(e.message).toBe(`the update manifest is not signed by a trusted key (${B.keyId}: unknown key): refused`);
  });

  it('refuses a signature by a retired key', () => {
    const e = refusal(() => verifyManifest(signed(), trust([A], [A])));
    expect(e.code).toBe('forbidden');
    expect(e.message).toContain(`${A.keyId}: retired key`);
  });

  it('refuses a manifest whose field was changed after signing', () => {
    const f = JSON.parse(signed()) as { manifest: Manifest };
    f.manifest.tarball.sha256 = 'cd'.repeat(32);
    const e = refusal(() => verifyManifest(f, A.trusted));
    expect(e.code).toBe('forbidden');
    expect(e.message).toContain(`${A.keyId}: bad signature`);
    // An added field is covered as well.
    const g = JSON.parse(signed()) as { manifest: Record<string, unknown> };
    g.manifest.extra = 1;
    expect(refusal(() => verifyManifest(g, A.trusted)).message).toContain('bad signature');
  });

  it('refuses a tampered signature', () => {
    const f = JSON.parse(signed()) as { signatures: { sig: string }[] };
    const sig = Buffer.from(f.signatures[0]!.sig, 'base64');
    sig[10] = sig[10]! ^ 1;
    f.signatures[0]!.sig = sig.toString('base64');
    expect(refusal(() => verifyManifest(f, A.trusted)).message).toContain(`${A.keyId}: bad signature`);
    // A signature of the right key moved onto another manifest.
    const other = JSON.parse(signed({ ...manifest, minVersion: '0.0.0' })) as { manifest: unknown };
    const moved = { manifest: other.manifest, signatures: (JSON.parse(signed()) as { signatures: unknown }).signatures };
    expect(refusal(() => verifyManifest(moved, A.trusted)).message).toContain('bad signature');
  });

  it('accepts two signatures when one of them verifies, in either order', () => {
    const both = trust([A, B], [B]); // B retired
    const f = JSON.parse(signed(manifest, B, A)) as { signatures: { sig: string }[] };
    expect(verifyManifest(f, both).keyId).toBe(A.keyId);
    f.signatures.reverse();
    expect(verifyManifest(f, both).keyId).toBe(A.keyId);
    // A bad signature by a trusted key next to a good one: still accepted, by the good one.
    const g = JSON.parse(signed(manifest, A, B)) as { signatures: { sig: string }[] };
    g.signatures[0]!.sig = g.signatures[1]!.sig;
    expect(verifyManifest(g, trust([A, B])).keyId).toBe(B.keyId);
    // Both valid: the first one names the key.
    expect(verifyManifest(signed(manifest, B, A), trust([A, B])).keyId).toBe(B.keyId);
    // Both failing: every reason listed.
    const e = refusal(() => verifyManifest(signed(manifest, A, B), trust([A, B], [A, B])));
    expect(e.message).toContain(`${A.keyId}: retired key; ${B.keyId}: retired key`);
  });

  it('refuses a manifest without signatures, and any manifest when nothing is trusted', () => {
    const none = refusal(() => verifyManifest({ manifest, signatures: [] }, A.trusted));
    expect(none.code).toBe('forbidden');
    expect(none.message).toBe('the update manifest has no signature: refused');
    const empty = refusal(() => verifyManifest(signed(), parseTrustedKeys({ keys: [] }, '/r/share/update-keys.json')));
    expect(empty.message).toBe('no trusted update keys in /r/share/update-keys.json: updates are refused');
  });

  it('names the malformed field', () => {
    expect(refusal(() => verifyManifest('{"manifest":', A.trusted)).message).toMatch(/^the update manifest is not JSON/);
    const noSigs = refusal(() => verifyManifest({ manifest }, A.trusted));
    expect([noSigs.code, noSigs.path]).toEqual(['invalid_args', 'signatures']);
    const badId = refusal(() => verifyManifest({ manifest, signatures: [{ keyId: 'XYZ', sig: 'AA==' }] }, A.trusted));
    expect(badId.path).toBe('signatures[0].keyId');
    // Signed, but not a valid manifest: refused with the field, after the signature verified.
    const m = { ...manifest, tarball: { ...manifest.tarball, bytes: -1 } };
    const f = { manifest: m, signatures: [signRaw(m)] };
    const e = refusal(() => verifyManifest(f, A.trusted));
    expect([e.code, e.path]).toEqual(['invalid_args', 'manifest.tarball.bytes']);
    // The tarball name must be this release's own (it is where the device downloads from).
    const n = { ...manifest, tarball: { ...manifest.tarball, name: '../camd-1.2.3-linux-arm64.tar.gz' } };
    const e2 = refusal(() => verifyManifest({ manifest: n, signatures: [signRaw(n)] }, A.trusted));
    expect(e2.path).toBe('manifest.tarball.name');
    expect(e2.message).toContain('must be camd-1.2.3-linux-arm64.tar.gz');
  });

  it('does not sign an invalid manifest', () => {
    const e = refusal(() => signManifest({ ...manifest, version: 'one' }, A.privateKeyPem));
    expect(e.path).toBe('manifest.version');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(refusal(() => signManifest(manifest, rsa)).message).toContain('not an Ed25519 key');
  });
});

/** Signs bypassing signManifest's schema check (for malformed-but-signed cases). */
function signRaw(m: unknown): { keyId: string; sig: string } {
  return { keyId: A.keyId, sig: sign(null, Buffer.from(canonical(m)), createPrivateKey(A.privateKeyPem)).toString('base64') };
}

describe('canonical', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonical({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
    expect(canonical({ a: undefined, b: 'é"\n' })).toBe('{"b":"é\\"\\n"}');
    expect(() => canonical({ a: NaN })).toThrow(/no JSON form/);
    expect(() => canonical([undefined])).toThrow(/no JSON form/);
    expect(() => canonical(1n)).toThrow(/no JSON form/);
  });

  it('is stable: the same for any key order, and parses back to the value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const c = canonical(v);
      expect(JSON.parse(c)).toEqual(JSON.parse(JSON.stringify(v)));
      expect(canonical(JSON.parse(c))).toBe(c);
      expect(canonical(shuffleKeys(v))).toBe(c);
    }), { numRuns: 300 });
  });
});

function shuffleKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shuffleKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, shuffleKeys(x)]));
  return v;
}

describe('trusted keys', () => {
  it('keyIdOf: sha256 of the raw public key, from any form of the key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const want = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    expect(keyIdOf(publicKey)).toBe(want);
    expect(keyIdOf(privateKey)).toBe(want);
    expect(keyIdOf(publicKeyBase64(publicKey))).toBe(want);
    expect(keyIdOf(publicKey.export({ format: 'pem', type: 'spki' }).toString())).toBe(want);
  });

  it('loadTrustedKeys: a missing file refuses updates, a broken one names the field', async () => {
    const missing = join(tmp, 'nope/update-keys.json');
    await expect(loadTrustedKeys(missing)).rejects.toThrow(`no trusted update keys in ${missing}: updates are refused`);
    expect((await loadTrustedKeys(A.keysFile)).keys.map((k) => k.id)).toEqual([A.keyId]);

    const write = (v: unknown): string => {
      const p = join(tmp, 'k.json');
      writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
      return p;
    };
    const p = write('{');
    await expect(loadTrustedKeys(p)).rejects.toThrow(`${p}: not JSON`);
    await expect(loadTrustedKeys(write({ keys: [{ id: B.keyId, publicKey: A.publicKey }] }))).rejects.toThrow(`keys[0].id: ${B.keyId} is not the id of its publicKey (${A.keyId})`);
    await expect(loadTrustedKeys(write({ keys: [{ id: A.keyId, publicKey: A.publicKey, retierd: true }] }))).rejects.toThrow('keys[0].retierd: unknown key');
    await expect(loadTrustedKeys(write({ keys: [{ id: A.keyId, publicKey: 'AAAA' }] }))).rejects.toThrow('keys[0].publicKey: not a public key');
    await expect(loadTrustedKeys(write({ keys: [{ id: A.keyId, publicKey: A.publicKey }, { id: A.keyId, publicKey: A.publicKey, retired: true }] }))).rejects.toThrow('keys[1].id: ' + A.keyId + ' is listed twice');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    await expect(loadTrustedKeys(write({ keys: [{ id: A.keyId, publicKey: rsa }] }))).rejects.toThrow('keys[0].publicKey: not an Ed25519 key (rsa)');
  });
});

describe('versions', () => {
  it('compareVersions orders by semver precedence', () => {
    const ordered = ['0.0.0', '0.1.0-alpha', '0.1.0-alpha.1', '0.1.0-alpha.beta', '0.1.0-beta', '0.1.0-beta.2', '0.1.0-beta.11', '0.1.0-rc.1', '0.1.0', '0.1.1', '0.2.0', '0.10.0', '1.0.0', '1.9.9', '1.10.0', '10.0.0'];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(compareVersions(ordered[i]!, ordered[j]!), `${ordered[i]} vs ${ordered[j]}`).toBe(Math.sign(i - j));
      }
    }
    expect(compareVersions('1.2.3+build.7', '1.2.3')).toBe(0);
    expect(compareVersions('1.2.3-dev.3+abc', '1.2.3-dev.3')).toBe(0);
    expect(() => compareVersions('1.2', '1.2.0')).toThrow("'1.2' is not a version");
    expect(() => compareVersions('1.2.3', 'v1.2.3')).toThrow('not a version');
  });

  it('versionPolicy refuses downgrades, the same version and a running version below minVersion', () => {
    expect(versionPolicy({ running: '1.0.0', candidate: '1.1.0', minVersion: '0.0.0' })).toBeNull();
    expect(versionPolicy({ running: '1.1.0-rc.1', candidate: '1.1.0', minVersion: '1.0.0' })).toBeNull();
    expect(versionPolicy({ running: '1.1.0', candidate: '1.0.0', minVersion: '0.0.0' })).toBe('downgrade from 1.1.0 to 1.0.0 refused (allowed only locally, with allowDowngrade)');
    expect(versionPolicy({ running: '1.1.0', candidate: '1.1.0-rc.1', minVersion: '0.0.0' })).toMatch(/^downgrade/);
    expect(versionPolicy({ running: '1.1.0', candidate: '1.0.0', minVersion: '0.0.0', allowDowngrade: true })).toBeNull();
    expect(versionPolicy({ running: '1.1.0', candidate: '1.1.0', minVersion: '0.0.0' })).toBe('release 1.1.0 is the running version (1.1.0): nothing to update');
    expect(versionPolicy({ running: '1.1.0', candidate: '1.1.0', minVersion: '0.0.0', allowDowngrade: true })).toBeNull();
    expect(versionPolicy({ running: '0.9.0', candidate: '2.0.0', minVersion: '1.0.0' })).toBe('release 2.0.0 updates only from 1.0.0 or later; this device runs 0.9.0');
    // minVersion holds even where a downgrade is allowed.
    expect(versionPolicy({ running: '0.9.0', candidate: '0.5.0', minVersion: '1.0.0', allowDowngrade: true })).toMatch(/updates only from 1\.0\.0/);
    expect(versionPolicy({ running: '1.0.0', candidate: '2.0.0', minVersion: '1.0.0' })).toBeNull();
  });
});
