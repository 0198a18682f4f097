// Build side of signed releases: scripts/release/sign-manifest.mjs, dev-keys.sh and assemble.sh's
// signing, checked against the device side (src/update/manifest.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonical, loadTrustedKeys, signManifest, verifyManifest, type Manifest } from '../../../src/update/manifest.js';
import { REPO } from '../../harness/boot.js';
import { makeRelease, testKeys } from '../../harness/releases.js';

const RELEASE = join(REPO, 'scripts/release');
const SIGN = join(RELEASE, 'sign-manifest.mjs');
const HOST = process.arch === 'arm64' ? 'arm64' : 'x64';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'camd-sign-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const base = { ...process.env };
  for (const k of ['CAMD_SIGNING_KEY', 'CAMD_SIGNING_KEY_FILE', 'CAMD_MIN_VERSION', 'CAMD_UPDATE_KEYS_FILE']) delete base[k];
  return spawnSync(cmd, args, { encoding: 'utf8', env: { ...base, ...env } });
};

function releaseJsonOf(tarball: string, version: string): string {
  const p = join(tmp, 'release.json');
  writeFileSync(p, run('tar', ['-xzOf', tarball, `camd-${version}/release.json`]).stdout);
  return p;
}

describe('sign-manifest.mjs', () => {
  it('signs a release tarball so that the device verifies it', () => {
    const keys = testKeys({ dir: join(tmp, 'keys') });
    const rel = makeRelease({ dir: join(tmp, 'out'), version: '2.0.0-rc.1', arch: 'arm64', kind: 'exit', keys, signWith: [] });
    rmSync(rel.manifestFile);
    const r = run('node', [SIGN, rel.tarball, releaseJsonOf(rel.tarball, '2.0.0-rc.1')], { CAMD_SIGNING_KEY_FILE: keys.privateKeyFile, CAMD_MIN_VERSION: '1.5.0' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(join(tmp, 'out', 'camd-2.0.0-rc.1-linux-arm64.manifest.json'));
    const v = verifyManifest(readFileSync(r.stdout.trim()), keys.trusted);
    expect(v).toEqual({ manifest: { ...rel.manifest, minVersion: '1.5.0' }, keyId: keys.keyId });
    expect(v.manifest.tarball).toEqual({ name: 'camd-2.0.0-rc.1-linux-arm64.tar.gz', bytes: statSync(rel.tarball).size, sha256: rel.sha256 });

    // The key as PEM text in the environment; minVersion defaults to 0.0.0.
    const e = run('node', [SIGN, rel.tarball, join(tmp, 'release.json')], { CAMD_SIGNING_KEY: keys.privateKeyPem });
    expect(e.status, e.stderr).toBe(0);
    expect(verifyManifest(readFileSync(e.stdout.trim()), keys.trusted).manifest.minVersion).toBe('0.0.0');
    // Without release.json: the tarball's own.
    const own = run('node', [SIGN, rel.tarball], { CAMD_SIGNING_KEY: keys.privateKeyPem, CAMD_MIN_VERSION: '1.9.0' });
    expect(own.status, own.stderr).toBe(0);
    expect(verifyManifest(readFileSync(own.stdout.trim()), keys.trusted).manifest).toEqual({ ...rel.manifest, minVersion: '1.9.0' });
    // Another key's device refuses it.
    expect(() => verifyManifest(readFileSync(e.stdout.trim()), testKeys({ dir: join(tmp, 'k2') }).trusted)).toThrow('unknown key');
  });

  it('refuses without a key, with a non-Ed25519 key, or with a tarball that is not the release\'s', () => {
    const keys = testKeys({ dir: join(tmp, 'keys') });
    const rel = makeRelease({ dir: join(tmp, 'out'), version: '1.0.0', arch: 'x64', kind: 'exit', keys, signWith: [] });
    rmSync(rel.manifestFile);
    const rj = releaseJsonOf(rel.tarball, '1.0.0');
    const none = run('node', [SIGN, rel.tarball, rj]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no signing key: set CAMD_SIGNING_KEY_FILE');
    const rsa = spawnSync('openssl', ['genpkey', '-algorithm', 'rsa', '-pkeyopt', 'rsa_keygen_bits:1024'], { encoding: 'utf8' }).stdout;
    const bad = run('node', [SIGN, rel.tarball, rj], { CAMD_SIGNING_KEY: rsa });
    expect(bad.stderr).toContain('the signing key is rsa, not Ed25519');
    const minv = run('node', [SIGN, rel.tarball, rj], { CAMD_SIGNING_KEY: keys.privateKeyPem, CAMD_MIN_VERSION: 'latest' });
    expect(minv.stderr).toContain("CAMD_MIN_VERSION 'latest' is not x.y.z");
    const other = makeRelease({ dir: join(tmp, 'out'), version: '1.0.1', arch: 'x64', kind: 'exit', keys });
    const wrong = run('node', [SIGN, other.tarball, rj], { CAMD_SIGNING_KEY: keys.privateKeyPem });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('the tarball must be named camd-1.0.0-linux-x64.tar.gz');
    const notRelease = join(tmp, 'out', 'camd-9.0.0-linux-x64.tar.gz');
    spawnSync('tar', ['-czf', notRelease, '-C', tmp, 'keys']);
    const nr = run('node', [SIGN, notRelease], { CAMD_SIGNING_KEY: keys.privateKeyPem });
    expect(nr.status).toBe(1);
    expect(nr.stderr).toContain('has no release.json: not a camd release');
    expect(existsSync(join(tmp, 'out', 'camd-1.0.0-linux-x64.manifest.json'))).toBe(false);
  });

  it('has the same canonical form as manifest.ts, and manifest.ts verifies what it signs', async () => {
    const mjs = (await import(SIGN)) as { canonical: (v: unknown) => string; keyIdOf: (k: unknown) => string };
    fc.assert(fc.property(fc.jsonValue(), (v) => mjs.canonical(v) === canonical(v)), { numRuns: 500 });
    const m: Manifest = {
      name: 'camd', version: '1.0.0', arch: 'x64', node: '20.20.2', commit: 'c', builtAt: '2026-01-01T00:00:00Z',
      tarball: { name: 'camd-1.0.0-linux-x64.tar.gz', bytes: 1, sha256: '0'.repeat(64) }, minVersion: '0.0.0',
    };
    expect(mjs.canonical(m)).toBe(canonical(m));
    const keys = testKeys({ dir: join(tmp, 'keys') });
    expect(signManifest(m, keys.privateKeyPem).keyId).toBe(keys.keyId);
  });

  it('--check-keys accepts a usable list and names what is wrong with another', () => {
    const keys = testKeys({ dir: join(tmp, 'keys') });
    const ok = run('node', [SIGN, '--check-keys', keys.keysFile]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`1 key(s), trusted: ${keys.keyId}`);
    const p = join(tmp, 'bad.json');
    writeFileSync(p, JSON.stringify({ keys: [{ id: '0123456789abcdef', publicKey: keys.publicKey }] }));
    const bad = run('node', [SIGN, '--check-keys', p]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`keys[0].id: 0123456789abcdef is not the id of its publicKey (${keys.keyId})`);
  });
});

describe('dev-keys.sh', () => {
  it('generates a key pair whose signatures the generated update-keys.json trusts', async () => {
    const dir = join(tmp, 'dev');
    const r = run('bash', [join(RELEASE, 'dev-keys.sh'), dir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`CAMD_SIGNING_KEY_FILE=${dir}/camd-dev-signing.pem\nCAMD_UPDATE_KEYS_FILE=${dir}/update-keys.json\n`);
    expect(statSync(join(dir, 'camd-dev-signing.pem')).mode & 0o777).toBe(0o600);
    const trusted = await loadTrustedKeys(join(dir, 'update-keys.json'));
    const rel = makeRelease({ dir: join(tmp, 'out'), version: '1.0.0', arch: HOST, kind: 'exit', keys: testKeys({ dir: join(tmp, 'k') }), signWith: [] });
    const s = run('node', [SIGN, rel.tarball, releaseJsonOf(rel.tarball, '1.0.0')], { CAMD_SIGNING_KEY_FILE: join(dir, 'camd-dev-signing.pem') });
    expect(s.status, s.stderr).toBe(0);
    expect(verifyManifest(readFileSync(s.stdout.trim()), trusted).keyId).toBe(trusted.keys[0]!.id);

    // Never overwrites a key.
    const before = readFileSync(join(dir, 'camd-dev-signing.pem'), 'utf8');
    const again = run('bash', [join(RELEASE, 'dev-keys.sh'), dir]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('exists: not overwriting a signing key');
    expect(readFileSync(join(dir, 'camd-dev-signing.pem'), 'utf8')).toBe(before);
  });

  it('refuses a directory inside the repository, also through a symlink', () => {
    const inside = join(REPO, 'var', `dev-keys-test-${process.pid}`);
    const r = run('bash', [join(RELEASE, 'dev-keys.sh'), inside]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is inside the repository');
    expect(existsSync(inside)).toBe(false);
    const link = join(tmp, 'link');
    spawnSync('ln', ['-s', join(REPO, 'var'), link]);
    const l = run('bash', [join(RELEASE, 'dev-keys.sh'), join(link, 'keys')]);
    expect(l.status).toBe(1);
    expect(l.stderr).toContain('is inside the repository');
    expect(existsSync(join(REPO, 'var', 'keys'))).toBe(false);
  });
});

describe('assemble.sh signing', () => {
  function put(path: string, content: string | Buffer = 'x'): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  /** Minimal inputs, as in test/unit/release/packaging.test.ts: assemble only copies, checks and packs. */
  function assemble(env: NodeJS.ProcessEnv) {
    const elf = Buffer.alloc(64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    elf[5] = 1;
    elf[6] = 1;
    elf.writeUInt16LE(3, 16);
    elf.writeUInt16LE(HOST === 'arm64' ? 0xb7 : 0x3e, 18);
    const dist = join(tmp, 'in/dist');
    put(join(dist, 'src/main.js'), '// main\n');
    put(join(dist, 'src/cli/camctl.js'), '// camctl\n');
    put(join(dist, 'src/config/schema.js'), 'export function defaultConfig() { return {}; }\n');
    const nm = join(tmp, 'in/node_modules');
    put(join(nm, 'zod/index.js'), 'export {};\n');
    put(join(tmp, 'node'), elf);
    chmodSync(join(tmp, 'node'), 0o755);
    return run('bash', [join(RELEASE, 'assemble.sh'), '--arch', HOST, '--dist', dist, '--modules', nm, '--node', join(tmp, 'node'), '--node-version', '20.20.2', '--out', join(tmp, 'out')], {
      SOURCE_DATE_EPOCH: '1767225600', CAMD_VERSION: '1.2.3', CAMD_COMMIT: 'abc123', CAMD_BUILDER: 'test', ...env,
    });
  }
  const tarball = () => join(tmp, 'out', `camd-1.2.3-linux-${HOST}.tar.gz`);
  const manifestFile = () => join(tmp, 'out', `camd-1.2.3-linux-${HOST}.manifest.json`);

  it('signs the tarball and ships the update keys when both are configured', () => {
    const keys = testKeys({ dir: join(tmp, 'keys') });
    const r = assemble({ CAMD_SIGNING_KEY_FILE: keys.privateKeyFile, CAMD_UPDATE_KEYS_FILE: keys.keysFile, CAMD_MIN_VERSION: '1.0.0' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${tarball()}\n`); // the manifest's path goes to stderr: stdout stays the tarball
    const v = verifyManifest(readFileSync(manifestFile()), keys.trusted);
    expect(v.manifest).toMatchObject({ version: '1.2.3', arch: HOST, node: '20.20.2', commit: 'abc123', builtAt: '2026-01-01T00:00:00Z', minVersion: '1.0.0' });
    expect(v.manifest.tarball.bytes).toBe(statSync(tarball()).size);
    expect(run('tar', ['-xzOf', tarball(), 'camd-1.2.3/share/update-keys.json']).stdout).toBe(readFileSync(keys.keysFile, 'utf8'));
  });

  it('without keys: an unsigned release that trusts nothing, said loudly', () => {
    const keys = testKeys({ dir: join(tmp, 'keys') });
    put(manifestFile(), 'stale manifest of an earlier build');
    const r = assemble({});
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('this release trusts no update keys and will refuse every over-the-air update');
    expect(r.stderr).toContain('is not signed; devices refuse it as an update');
    expect(existsSync(manifestFile())).toBe(false);
    expect(JSON.parse(run('tar', ['-xzOf', tarball(), 'camd-1.2.3/share/update-keys.json']).stdout)).toEqual({ keys: [] });
    // A broken key list or signing key fails the build, and no unsigned tarball is left behind.
    const p = join(tmp, 'bad-keys.json');
    writeFileSync(p, '{"keys": [{"id": "x"}]}');
    const bad = assemble({ CAMD_UPDATE_KEYS_FILE: p });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('is not a usable update-keys.json');
    rmSync(tarball());
    const nokey = assemble({ CAMD_SIGNING_KEY_FILE: join(tmp, 'missing.pem'), CAMD_UPDATE_KEYS_FILE: keys.keysFile });
    expect(nokey.status).toBe(1);
    expect(nokey.stderr).toContain('cannot read CAMD_SIGNING_KEY_FILE');
    expect(existsSync(tarball())).toBe(false);
  });
});
