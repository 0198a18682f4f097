#!/usr/bin/env node
// Build side of signed releases (issue 13; the device side is src/update/manifest.ts). Plain Node,
// no dependencies: it runs on the build machine right after assemble.sh packed the tarball.
//   node sign-manifest.mjs <tarball> [<release.json>]
//       -> writes <tarball without .tar.gz>.manifest.json next to the tarball, prints its path.
//       Without release.json, the tarball's own camd-<version>/release.json is read (signing a
//       release built elsewhere, e.g. by Dockerfile.cross, on the machine that holds the key).
//       Env: CAMD_SIGNING_KEY_FILE (PKCS#8 PEM) or CAMD_SIGNING_KEY (the PEM text);
//            CAMD_MIN_VERSION (oldest version that may update to this one, default 0.0.0).
//   node sign-manifest.mjs --check-keys <update-keys.json>
//       -> exit 0 when the file is a usable trusted-keys list (prints a summary to stderr).
// canonical() here must produce the same bytes as manifest.ts's (test/unit/update/manifest-build.test.ts).
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { createReadStream, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const VERSION_RE = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.+-]+))?$/;

/** Keys sorted at every depth, no whitespace; the same rules as manifest.ts canonical(). */
export function canonical(value) {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => {
      if (v === undefined) throw new TypeError('canonical: undefined in an array has no JSON form');
      return canonical(v);
    }).join(',')}]`;
  }
  if (typeof value === 'object') {
    const parts = [];
    for (const k of Object.keys(value).sort()) {
      if (value[k] === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${canonical(value[k])}`);
    }
    return `{${parts.join(',')}}`;
  }
  throw new TypeError(`canonical: a ${typeof value} has no JSON form`);
}

/** First 16 hex digits of sha256 over the raw 32-byte Ed25519 public key (of a public or private KeyObject). */
export function keyIdOf(key) {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 key (${pub.asymmetricKeyType})`);
  return createHash('sha256').update(Buffer.from(pub.export({ format: 'jwk' }).x, 'base64url')).digest('hex').slice(0, 16);
}

async function sha256File(path) {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}

function signingKey(env) {
  let pem;
  if (env.CAMD_SIGNING_KEY_FILE) {
    try {
      pem = readFileSync(env.CAMD_SIGNING_KEY_FILE, 'utf8');
    } catch (err) {
      throw new Error(`cannot read CAMD_SIGNING_KEY_FILE ${env.CAMD_SIGNING_KEY_FILE}: ${err.message}`);
    }
  } else if (env.CAMD_SIGNING_KEY) {
    pem = env.CAMD_SIGNING_KEY;
  } else {
    throw new Error('no signing key: set CAMD_SIGNING_KEY_FILE (a PKCS#8 PEM file) or CAMD_SIGNING_KEY (its text)');
  }
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`the signing key is not a private key PEM: ${err.message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the signing key is ${key.asymmetricKeyType}, not Ed25519`);
  return key;
}

function readReleaseJson(tarball, releaseJson) {
  if (releaseJson) return JSON.parse(readFileSync(releaseJson, 'utf8'));
  const r = spawnSync('tar', ['-xzOf', tarball, '--wildcards', '--no-wildcards-match-slash', '*/release.json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${tarball} has no release.json: not a camd release (${r.stderr.trim()})`);
  return JSON.parse(r.stdout);
}

/**
 * Manifest for `tarball` from its release.json (the given file, else the one inside the tarball);
 * throws with a precise message on bad input.
 */
export async function buildManifest(tarball, releaseJson, minVersion = '0.0.0') {
  const rel = readReleaseJson(tarball, releaseJson);
  releaseJson ||= `${tarball}:release.json`;
  for (const f of ['version', 'arch', 'node', 'commit', 'builtAt']) {
    if (typeof rel[f] !== 'string' || !rel[f]) throw new Error(`${releaseJson}: no ${f}`);
  }
  if (rel.name !== 'camd') throw new Error(`${releaseJson}: name is ${JSON.stringify(rel.name)}, not "camd"`);
  if (!VERSION_RE.test(rel.version)) throw new Error(`${releaseJson}: version '${rel.version}' is not x.y.z[-pre][+build]`);
  if (!VERSION_RE.test(minVersion)) throw new Error(`CAMD_MIN_VERSION '${minVersion}' is not x.y.z[-pre][+build]`);
  const want = `camd-${rel.version}-linux-${rel.arch}.tar.gz`;
  if (basename(tarball) !== want) throw new Error(`${tarball}: release.json says version ${rel.version}, arch ${rel.arch}: the tarball must be named ${want}`);
  const { sha256, bytes } = await sha256File(tarball);
  return {
    name: 'camd',
    version: rel.version,
    arch: rel.arch,
    node: rel.node,
    commit: rel.commit,
    builtAt: rel.builtAt,
    tarball: { name: want, bytes, sha256 },
    minVersion,
  };
}

/** Signs and writes the manifest file next to the tarball (temp + rename); returns its path. */
export async function signRelease(tarball, releaseJson, env = process.env) {
  const key = signingKey(env);
  const manifest = await buildManifest(tarball, releaseJson, env.CAMD_MIN_VERSION || '0.0.0');
  const file = {
    manifest,
    signatures: [{ keyId: keyIdOf(key), sig: sign(null, Buffer.from(canonical(manifest)), key).toString('base64') }],
  };
  const out = join(dirname(tarball), basename(tarball).replace(/\.tar\.gz$/, '') + '.manifest.json');
  writeFileSync(`${out}.tmp`, JSON.stringify(file, null, 2) + '\n');
  renameSync(`${out}.tmp`, out);
  return out;
}

/** Validates an update-keys.json the way the device will (src/update/manifest.ts parseTrustedKeys). */
export function checkKeys(path) {
  const j = JSON.parse(readFileSync(path, 'utf8'));
  if (!j || typeof j !== 'object' || !Array.isArray(j.keys)) throw new Error(`${path}: must be { "keys": [ … ] }`);
  for (const k of Object.keys(j)) if (k !== 'keys') throw new Error(`${path}: unknown key ${k}`);
  const seen = new Set();
  j.keys.forEach((k, i) => {
    for (const f of Object.keys(k)) if (!['id', 'publicKey', 'comment', 'retired'].includes(f)) throw new Error(`${path}: keys[${i}]: unknown key ${f}`);
    if (k.retired !== undefined && k.retired !== true) throw new Error(`${path}: keys[${i}].retired: must be true or absent`);
    let pub;
    try {
      pub = createPublicKey({ key: Buffer.from(String(k.publicKey), 'base64'), format: 'der', type: 'spki' });
    } catch (err) {
      throw new Error(`${path}: keys[${i}].publicKey: not a base64 SPKI DER public key (${err.message})`);
    }
    const id = keyIdOf(pub);
    if (k.id !== id) throw new Error(`${path}: keys[${i}].id: ${k.id} is not the id of its publicKey (${id})`);
    if (seen.has(id)) throw new Error(`${path}: keys[${i}].id: ${id} is listed twice`);
    seen.add(id);
  });
  return j.keys;
}

async function main(argv) {
  if (argv[0] === '--check-keys' && argv.length === 2) {
    const keys = checkKeys(argv[1]);
    const active = keys.filter((k) => !k.retired).map((k) => k.id);
    process.stderr.write(`sign-manifest: ${argv[1]}: ${keys.length} key(s), trusted: ${active.join(', ') || 'none'}\n`);
    return;
  }
  if (argv.length < 1 || argv.length > 2 || argv[0].startsWith('-')) throw new Error('usage: sign-manifest.mjs <tarball> [<release.json>] | --check-keys <update-keys.json>');
  process.stdout.write((await signRelease(argv[0], argv[1])) + '\n');
}

// Run as a script (not imported by a test): node resolves the main module through symlinks.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`sign-manifest: ${err.message}\n`);
    process.exit(1);
  });
}
