/**
 * Release tarballs and signing keys for the OTA tests (issue 13): real files, packed by the
 * system tar, signed with src/update/manifest.ts. A release's bin/camd runs this repository's
 * daemon through tsx (or misbehaves on purpose, see ReleaseKind).
 */
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyIdOf, parseTrustedKeys, publicKeyBase64, signManifest, type Manifest, type ManifestSignature, type TrustedKeys } from '../../src/update/manifest.js';
import { REPO } from './boot.js';

export interface TestKeys {
  dir: string;
  keyId: string;
  /** PKCS#8 PEM (what CAMD_SIGNING_KEY holds) */
  privateKeyPem: string;
  /** the same, in a file (CAMD_SIGNING_KEY_FILE) */
  privateKeyFile: string;
  /** base64 SPKI DER, as in update-keys.json */
  publicKey: string;
  /** an update-keys.json trusting only this key (CAMD_UPDATE_KEYS_FILE) */
  keysFile: string;
  trusted: TrustedKeys;
}

/** A fresh Ed25519 key pair and an update-keys.json trusting it, in a new temp dir (or `dir`). */
export function testKeys(opts: { dir?: string; comment?: string } = {}): TestKeys {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'camd-keys-'));
  mkdirSync(dir, { recursive: true });
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const privateKeyFile = join(dir, `signing-${keyId}.pem`);
  writeFileSync(privateKeyFile, privateKeyPem, { mode: 0o600 });
  const entry = { id: keyId, publicKey: publicKeyBase64(publicKey), comment: opts.comment ?? 'test key' };
  const keysFile = join(dir, `update-keys-${keyId}.json`);
  writeFileSync(keysFile, JSON.stringify({ keys: [entry] }, null, 2));
  return { dir, keyId, privateKeyPem, privateKeyFile, publicKey: entry.publicKey, keysFile, trusted: parseTrustedKeys({ keys: [entry] }, keysFile) };
}

/** update-keys.json content trusting `keys` (those in `retired` marked retired): for rotation tests. */
export function trustedKeysJson(keys: TestKeys[], retired: TestKeys[] = []): string {
  return JSON.stringify({
    keys: keys.map((k) => ({ id: k.keyId, publicKey: k.publicKey, ...(retired.includes(k) ? { retired: true } : {}) })),
  }, null, 2);
}

/**
 * What bin/camd does: 'daemon' runs the real daemon; 'exit' exits 1 at once; 'hang' sleeps
 * forever without opening its socket; crash-after runs the real daemon, SIGKILLs it after `ms`
 * and exits 1 (SIGTERM/SIGINT to the wrapper are passed on to the daemon).
 */
export type ReleaseKind = 'daemon' | 'exit' | 'hang' | { kind: 'crash-after'; ms: number };

export interface MadeRelease {
  version: string;
  tarball: string;
  manifestFile: string;
  manifest: Manifest;
  signatures: ManifestSignature[];
  sha256: string;
  bytes: number;
}

const TSX = fileURLToPath(import.meta.resolve('tsx'));

function sh(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Common head of the bin scripts: the release's own dir, through any current/ symlink. */
const HEAD = `#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
CAMD_RELEASE_DIR=$(dirname "$here")
export CAMD_RELEASE_DIR
`;

function camdScript(kind: ReleaseKind, version: string): string {
  const run = `${sh(process.execPath)} --import ${sh(TSX)} ${sh(join(REPO, 'src/main.ts'))} "$@"`;
  if (kind === 'daemon') return `${HEAD}exec ${run}\n`;
  if (kind === 'exit') return `#!/bin/sh\necho "camd ${version} (test release): exits at start" >&2\nexit 1\n`;
  if (kind === 'hang') return `#!/bin/sh\necho "camd ${version} (test release): hangs before ready" >&2\nexec sleep infinity\n`;
  // The timer is a node process of its own (not `sleep` in a subshell, which would outlive a kill
  // of the subshell); `wait` returns early on a trapped signal, so TERM reaches the daemon at once.
  const timer = `${sh(process.execPath)} -e ${sh(`setTimeout(() => { try { process.kill(Number(process.argv[1]), 'SIGKILL'); } catch {} }, ${Math.round(kind.ms)})`)}`;
  return `${HEAD}${run} &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon; kill $timer 2>/dev/null; exit 143' TERM INT
${timer} $daemon &
timer=$!
wait $daemon
rc=$?
kill $timer 2>/dev/null
[ $rc -eq 137 ] && { echo "camd ${version} (test release): killed after ${kind.ms} ms" >&2; exit 1; }
exit $rc
`;
}

/**
 * Writes `camd-<version>-linux-<arch>.tar.gz` (top dir camd-<version>/: release.json as
 * assemble.sh writes it, share/update-keys.json trusting `keys`, bin/camd and bin/camctl) and its
 * manifest `camd-<version>-linux-<arch>.manifest.json`, signed with `signWith` (default [keys];
 * [] = no signature) into `dir`. `files` adds more (path in the release -> content).
 */
export function makeRelease(o: {
  dir: string;
  version: string;
  arch: string;
  kind: ReleaseKind;
  keys: TestKeys;
  minVersion?: string;
  signWith?: TestKeys[];
  /** Overrides the shipped share/update-keys.json (e.g. trustedKeysJson for a rotation). */
  updateKeysJson?: string;
  files?: Record<string, string>;
}): MadeRelease {
  const name = `camd-${o.version}`;
  const stage = mkdtempSync(join(tmpdir(), 'camd-rel-'));
  try {
    const r = join(stage, name);
    const put = (rel: string, content: string, mode = 0o644): void => {
      mkdirSync(dirname(join(r, rel)), { recursive: true });
      writeFileSync(join(r, rel), content);
      chmodSync(join(r, rel), mode);
    };
    const builtAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    put('release.json', JSON.stringify({ name: 'camd', version: o.version, platform: 'linux', arch: o.arch, node: process.versions.node, commit: 'test', builtAt, builder: 'test' }, null, 2) + '\n');
    put('share/update-keys.json', o.updateKeysJson ?? readFileSync(o.keys.keysFile, 'utf8'));
    put('bin/camd', camdScript(o.kind, o.version), 0o755);
    put('bin/camctl', `${HEAD}exec ${sh(process.execPath)} --import ${sh(TSX)} ${sh(join(REPO, 'src/cli/camctl.ts'))} "$@"\n`, 0o755);
    for (const [rel, content] of Object.entries(o.files ?? {})) put(rel, content, rel.startsWith('bin/') ? 0o755 : 0o644);

    mkdirSync(o.dir, { recursive: true });
    const tarball = join(o.dir, `${name}-linux-${o.arch}.tar.gz`);
    const t = spawnSync('tar', ['-czf', tarball, '-C', stage, name], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar -czf ${tarball} failed: ${t.stderr}`);

    const data = readFileSync(tarball);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const manifest: Manifest = {
      name: 'camd', version: o.version, arch: o.arch, node: process.versions.node, commit: 'test', builtAt,
      tarball: { name: `${name}-linux-${o.arch}.tar.gz`, bytes: data.length, sha256 },
      minVersion: o.minVersion ?? '0.0.0',
    };
    const signatures = (o.signWith ?? [o.keys]).map((k) => signManifest(manifest, k.privateKeyPem));
    const manifestFile = join(o.dir, `${name}-linux-${o.arch}.manifest.json`);
    writeFileSync(manifestFile, JSON.stringify({ manifest, signatures }, null, 2));
    return { version: o.version, tarball, manifestFile, manifest, signatures, sha256, bytes: data.length };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Flips every bit of one byte (the middle one unless `at`): same size, another sha256. */
export function corrupt(file: string, at?: number): void {
  const data = readFileSync(file);
  if (data.length === 0) throw new Error(`corrupt: ${file} is empty`);
  const i = at ?? Math.floor(data.length / 2);
  data[i] = data[i]! ^ 0xff;
  writeFileSync(file, data);
}

/** Cuts `file` down to its first `bytes` bytes (a dropped download). */
export function truncate(file: string, bytes: number): void {
  if (bytes > statSync(file).size) throw new Error(`truncate: ${file} is shorter than ${bytes} bytes`);
  truncateSync(file, bytes);
}
