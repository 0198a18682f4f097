/**
 * Signed release manifests (issue 13, /work/notes/ota-spec.md): the schema of
 * `camd-<version>-linux-<arch>.manifest.json`, its canonical form, Ed25519 signing and
 * verification against the trusted keys the running release ships (share/update-keys.json), and
 * the version policy. scripts/release/sign-manifest.mjs signs on the build machine with its own
 * copy of canonical() (no deps there); test/unit/update/manifest-build.test.ts holds the two equal.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { CamdError, errorMessage } from '../core/errors.js';
import { describeIssue, parseOrThrow } from '../core/schema-util.js';

/** x.y.z with an optional -prerelease and/or +build (the same rule as scripts/release/assemble.sh). */
const VERSION_RE = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.+-]+))?$/;
const version = z.string().regex(VERSION_RE, 'not a version (x.y.z, optional -pre and +build)');
const HEX_KEY_ID = /^[0-9a-f]{16}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export const manifestSchema = z
  .object({
    name: z.literal('camd'),
    version,
    // Plain tokens: they end up in file names (the tarball's, the release dir's).
    arch: z.string().regex(/^[a-z0-9_]+$/, 'not an architecture name (arm64, x64…)'),
    node: z.string().regex(/^[0-9]+\.[0-9]+\.[0-9]+$/, 'not a Node version (x.y.z)'),
    commit: z.string().regex(/^[0-9A-Za-z._-]{1,64}$/, 'not a commit id'),
    builtAt: z.iso.datetime({ message: 'not an ISO 8601 UTC time' }),
    tarball: z.object({
      name: z.string(),
      bytes: z.int().positive(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'not a sha256 (64 lowercase hex digits)'),
    }),
    /** The oldest running version this release may update from. */
    minVersion: version,
  })
  // The name is where the device downloads from next to the manifest: it must be exactly the
  // release's own, never a path and never another release's.
  .superRefine((m, ctx) => {
    const want = `camd-${m.version}-linux-${m.arch}.tar.gz`;
    if (m.tarball.name !== want) ctx.addIssue({ code: 'custom', path: ['tarball', 'name'], message: `must be ${want} (version and arch of this manifest)` });
  });
export type Manifest = z.infer<typeof manifestSchema>;

export const signatureSchema = z.object({
  keyId: z.string().regex(HEX_KEY_ID, 'not a key id (16 lowercase hex digits)'),
  sig: z.string().regex(BASE64, 'not base64'),
});
export type ManifestSignature = z.infer<typeof signatureSchema>;

/** The file as served. `manifest` is checked against manifestSchema only after a signature verified. */
const fileSchema = z.object({
  manifest: z.record(z.string(), z.unknown()),
  signatures: z.array(signatureSchema),
});
// Strict: a typo such as "retierd" must not leave a key the operator meant to retire trusted.
const trustedKeySchema = z.strictObject({
  id: z.string().regex(HEX_KEY_ID, 'not a key id (16 lowercase hex digits)'),
  publicKey: z.string().regex(BASE64, 'not base64 (SPKI DER)'),
  comment: z.string().optional(),
  retired: z.literal(true).optional(),
});
const trustedKeysSchema = z.strictObject({ keys: z.array(trustedKeySchema) });

export interface TrustedKey {
  id: string;
  /** base64 SPKI DER, as in update-keys.json */
  publicKey: string;
  comment?: string;
  retired?: true;
  key: KeyObject;
}
export interface TrustedKeys {
  keys: TrustedKey[];
  /** Where they came from, for messages ("no trusted update keys in <source>"). */
  source: string;
}

/**
 * JSON with object keys sorted (by UTF-16 code units, Array.prototype.sort's order) at every
 * depth and no whitespace: the bytes a signature covers. Keys whose value is undefined are left
 * out, as JSON.stringify does; anything JSON cannot carry exactly (undefined in an array,
 * NaN/Infinity, bigint, functions) throws rather than being signed as something else.
 */
export function canonical(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v: unknown) => {
      if (v === undefined) throw new TypeError('canonical: undefined in an array has no JSON form');
      return canonical(v);
    }).join(',')}]`;
  }
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(o).sort()) {
      if (o[k] === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${canonical(o[k])}`);
    }
    return `{${parts.join(',')}}`;
  }
  throw new TypeError(`canonical: a ${typeof value} has no JSON form`);
}

function toPublicKey(key: KeyObject | string): KeyObject {
  if (typeof key !== 'string') return key.type === 'private' ? createPublicKey(key) : key;
  if (key.includes('-----BEGIN')) return createPublicKey(key);
  return createPublicKey({ key: Buffer.from(key, 'base64'), format: 'der', type: 'spki' });
}

/**
 * First 16 hex digits of sha256 over the raw 32-byte Ed25519 public key. Takes a KeyObject
 * (public or private), a PEM, or base64 SPKI DER as in update-keys.json.
 */
export function keyIdOf(publicKey: KeyObject | string): string {
  const k = toPublicKey(publicKey);
  if (k.asymmetricKeyType !== 'ed25519') throw new CamdError('invalid_args', `not an Ed25519 key (${k.asymmetricKeyType ?? 'unknown type'})`);
  const jwk = k.export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x ?? '', 'base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** base64 SPKI DER of a key: the `publicKey` of an update-keys.json entry. */
export function publicKeyBase64(key: KeyObject | string): string {
  return toPublicKey(key).export({ format: 'der', type: 'spki' }).toString('base64');
}

/** One signature entry over canonical(manifest), which must be a valid manifest. */
export function signManifest(manifest: Manifest, privateKeyPem: string): ManifestSignature {
  parseOrThrow(manifestSchema, manifest, 'manifest'); // an invalid manifest is never signed
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519') throw new CamdError('invalid_args', `the signing key is not an Ed25519 key (${key.asymmetricKeyType ?? 'unknown type'})`);
  // Signs what the caller handed over (unknown keys included): verifyManifest checks the file's
  // own manifest object, not the schema's stripped copy.
  const sig = sign(null, Buffer.from(canonical(manifest)), key).toString('base64');
  return { keyId: keyIdOf(key), sig };
}

/**
 * Checks a manifest file (its text or bytes, or the parsed JSON): at least one signature must
 * verify with a trusted, non-retired key, then the manifest must match manifestSchema.
 * Throws CamdError 'forbidden' when no signature verifies (the message lists each signature's
 * reason: unknown key, retired key, bad signature), 'invalid_args' when the file is malformed
 * (the message and path name the field).
 */
export function verifyManifest(file: unknown, trusted: TrustedKeys): { manifest: Manifest; keyId: string } {
  let value = file;
  if (typeof file === 'string' || file instanceof Uint8Array) {
    try {
      value = JSON.parse(Buffer.from(file).toString('utf8'));
    } catch (err) {
      throw new CamdError('invalid_args', `the update manifest is not JSON: ${errorMessage(err)}`);
    }
  }
  const f = parseOrThrow(fileSchema, value);
  if (f.signatures.length === 0) throw new CamdError('forbidden', 'the update manifest has no signature: refused');
  if (trusted.keys.length === 0) throw new CamdError('forbidden', `no trusted update keys in ${trusted.source}: updates are refused`);
  const bytes = Buffer.from(canonical(f.manifest));
  const reasons: string[] = [];
  let keyId: string | undefined;
  for (const s of f.signatures) {
    const k = trusted.keys.find((t) => t.id === s.keyId);
    if (!k) reasons.push(`${s.keyId}: unknown key`);
    else if (k.retired) reasons.push(`${s.keyId}: retired key`);
    else if (!verify(null, bytes, k.key, Buffer.from(s.sig, 'base64'))) reasons.push(`${s.keyId}: bad signature`);
    else {
      keyId = s.keyId;
      break;
    }
  }
  if (keyId === undefined) throw new CamdError('forbidden', `the update manifest is not signed by a trusted key (${reasons.join('; ')}): refused`);
  return { manifest: parseOrThrow(manifestSchema, f.manifest, 'manifest'), keyId };
}

/** Parses update-keys.json content: every key must be Ed25519 and carry its own id. */
export function parseTrustedKeys(value: unknown, source: string): TrustedKeys {
  const res = trustedKeysSchema.safeParse(value);
  if (!res.success) {
    const first = describeIssue(res.error.issues[0]!);
    throw new CamdError('failed', `${source}: ${first.path || '(root)'}: ${first.message}`, first.path);
  }
  const keys: TrustedKey[] = res.data.keys.map((k, i) => {
    let key: KeyObject;
    try {
      key = toPublicKey(k.publicKey);
    } catch (err) {
      throw new CamdError('failed', `${source}: keys[${i}].publicKey: not a public key (${errorMessage(err)})`, `keys[${i}].publicKey`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new CamdError('failed', `${source}: keys[${i}].publicKey: not an Ed25519 key (${key.asymmetricKeyType ?? 'unknown type'})`, `keys[${i}].publicKey`);
    const id = keyIdOf(key);
    if (id !== k.id) throw new CamdError('failed', `${source}: keys[${i}].id: ${k.id} is not the id of its publicKey (${id})`, `keys[${i}].id`);
    // One entry per key: two entries of one key (one retired, one not) would be ambiguous.
    if (res.data.keys.findIndex((o) => o.id === k.id) !== i) throw new CamdError('failed', `${source}: keys[${i}].id: ${k.id} is listed twice`, `keys[${i}].id`);
    return { ...k, key };
  });
  return { keys, source };
}

/**
 * Reads <release>/share/update-keys.json. A missing file is an error, not an empty list: a
 * device that does not know whom to trust refuses every update.
 */
export async function loadTrustedKeys(path: string): Promise<TrustedKeys> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CamdError('unavailable', `no trusted update keys in ${path}: updates are refused`);
    throw new CamdError('failed', `cannot read trusted update keys ${path}: ${errorMessage(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CamdError('failed', `${path}: not JSON (${errorMessage(err)})`);
  }
  return parseTrustedKeys(value, path);
}

interface ParsedVersion {
  core: [number, number, number];
  pre: string[];
}

function parseVersion(v: string): ParsedVersion {
  const m = VERSION_RE.exec(v);
  if (!m) throw new CamdError('invalid_args', `'${v}' is not a version (x.y.z, optional -pre and +build)`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] === undefined ? [] : m[4].split('.') };
}

/**
 * Semver precedence: numeric x.y.z, then a pre-release sorts before its release, pre-release
 * identifiers compare numerically when both are digits, numbers before words, words in ASCII
 * order, and a shorter list of equal identifiers first. Build metadata (+…) is ignored.
 * Returns -1, 0 or 1. Throws CamdError('invalid_args') for something that is not a version.
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    if (x.core[i]! !== y.core[i]!) return x.core[i]! < y.core[i]! ? -1 : 1;
  }
  if (!x.pre.length || !y.pre.length) return x.pre.length === y.pre.length ? 0 : x.pre.length ? -1 : 1;
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i]!;
    const q = y.pre[i]!;
    if (p === q) continue;
    const pn = /^[0-9]+$/.test(p);
    const qn = /^[0-9]+$/.test(q);
    if (pn && qn) {
      const d = BigInt(p) - BigInt(q);
      if (d !== 0n) return d < 0n ? -1 : 1;
      continue; // "01" vs "1": equal in value
    }
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return x.pre.length === y.pre.length ? 0 : x.pre.length < y.pre.length ? -1 : 1;
}

/**
 * Whether a release may replace the running one. Returns null when it may, else the reason.
 * `allowDowngrade` (local `camctl update` only) also allows reinstalling the same version;
 * the candidate's minVersion holds regardless (it is what that release can migrate from).
 */
export function versionPolicy(p: { running: string; candidate: string; minVersion: string; allowDowngrade?: boolean }): string | null {
  if (compareVersions(p.running, p.minVersion) < 0) return `release ${p.candidate} updates only from ${p.minVersion} or later; this device runs ${p.running}`;
  const c = compareVersions(p.candidate, p.running);
  if (c < 0 && !p.allowDowngrade) return `downgrade from ${p.running} to ${p.candidate} refused (allowed only locally, with allowDowngrade)`;
  if (c === 0 && !p.allowDowngrade) return `release ${p.candidate} is the running version (${p.running}): nothing to update`;
  return null;
}
