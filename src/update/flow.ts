import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CamdError, errorMessage } from '../core/errors.js';
import type { OnceResult, OnceSpec } from '../supervisor/runner.js';
import { checkUpdateUrl, fetchSmall, fetchToFile, redact, type FetchOptions } from './fetch.js';
import type { ReleaseLayout, RunningRelease } from './layout.js';
import { loadTrustedKeys, verifyManifest, versionPolicy, type Manifest } from './manifest.js';
import { writeTrial } from './trial.js';
import type { UpdatePhase } from './types.js';

/**
 * One firmware update, in the order that keeps a kill -9 at any step harmless (README
 * "Firmware updates"):
 *   1. manifest: fetched (≤ 64 KiB), signature checked against the running release's trusted
 *      keys, then arch and version policy — before a byte of the tarball is fetched;
 *   2. tarball: into downloads/<sha256>.part, resumed, bounded by the manifest's size; its sha256
 *      checked against the signed one before anything is unpacked;
 *   3. unpack into releases/.incoming-<id>, checked (release.json says the same version and
 *      arch, bin/camd is there), renamed to releases/<id>; the tarball removed;
 *   4. switch: trial.json written, `previous` → the running release, `current` → the new one
 *      (atomic renames). The caller then restarts; the boot guard and the new release's own
 *      trial decide whether it stays (trial.ts).
 * A kill before 4 leaves `current` untouched (a leftover .incoming or .part is cleaned or
 * resumed by the next update); during 4 every state has `current` at a complete release.
 */
export const MANIFEST_MAX_BYTES = 64 * 1024;

export interface FlowDeps {
  layout: ReleaseLayout;
  running: RunningRelease & { id: string; dir: string };
  /** tar, through the service's run-once runner. */
  run(spec: OnceSpec): Promise<OnceResult>;
  log: Logger;
  now(): number;
  fetch: FetchOptions;
  onPhase(phase: UpdatePhase, extra?: { bytes?: number; total?: number; version?: string }): void;
  maxBoots: number;
  cloudConnected: boolean;
}

export interface UpdateRequest {
  source: string;
  /** Local installs may name a file. */
  allowFile: boolean;
  allowDowngrade: boolean;
}

export interface Checked {
  manifest: Manifest;
  keyId: string;
  tarballUrl: URL;
}

/** Step 1: everything that can be refused before the tarball is fetched. */
export async function checkManifest(req: UpdateRequest, d: FlowDeps): Promise<Checked> {
  const url = checkUpdateUrl(req.allowFile && req.source.startsWith('/') ? `file://${req.source}` : req.source, req.allowFile);
  const raw = await fetchSmall(url, MANIFEST_MAX_BYTES, d.fetch);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new CamdError('invalid_args', `the update manifest at ${redact(url)} is not JSON: ${errorMessage(err)}`, 'url');
  }
  const trusted = await loadTrustedKeys(join(d.running.dir, 'share', 'update-keys.json'));
  const { manifest, keyId } = verifyManifest(json, trusted);
  const arch = d.running.arch ?? process.arch;
  if (manifest.arch !== arch) throw new CamdError('invalid_args', `release ${manifest.version} is for ${manifest.arch}, this camera is ${arch}`, 'url');
  const refused = versionPolicy({ running: d.running.version, candidate: manifest.version, minVersion: manifest.minVersion, allowDowngrade: req.allowDowngrade });
  if (refused) throw new CamdError('invalid_args', refused, 'url');
  return { manifest, keyId, tarballUrl: new URL(manifest.tarball.name, url) };
}

/** Steps 2–4; resolves with the new release's id once `current` points at it. */
export async function installRelease(c: Checked, d: FlowDeps, signal?: AbortSignal): Promise<string> {
  const { layout } = d;
  const m = c.manifest;
  await layout.ensureDirs();
  const part = join(layout.downloads, `${m.tarball.sha256}.part`);
  await removeOtherDownloads(layout, `${m.tarball.sha256}.part`);
  d.onPhase('downloading', { bytes: 0, total: m.tarball.bytes, version: m.version });
  const got = await fetchToFile(c.tarballUrl, part, m.tarball.bytes, { ...d.fetch, signal, onProgress: (bytes, total) => d.onPhase('downloading', { bytes, total, version: m.version }) });
  if (got.resumedFrom > 0) d.log.info({ resumedFrom: got.resumedFrom, total: m.tarball.bytes }, 'update download resumed');

  d.onPhase('verifying', { version: m.version });
  const sum = await sha256(part);
  if (sum !== m.tarball.sha256) {
    await fs.rm(part, { force: true });
    throw new CamdError('invalid_args', `corrupt download: sha256 ${sum}, the signed manifest says ${m.tarball.sha256} (removed)`, 'url');
  }

  d.onPhase('unpacking', { version: m.version });
  let id: string;
  try {
    id = await unpack(part, m, d);
  } finally {
    await fs.rm(part, { force: true });
  }

  d.onPhase('switching', { version: m.version });
  await writeTrial(layout, {
    release: id,
    previous: d.running.id,
    boots: 0,
    maxBoots: d.maxBoots,
    since: d.now(),
    from: d.running.version,
    to: m.version,
    cloudWasConnected: d.cloudConnected,
  });
  await layout.point('previous', d.running.id);
  await layout.point('current', id);
  return id;
}

async function unpack(tarball: string, m: Manifest, d: FlowDeps): Promise<string> {
  const { layout } = d;
  const existing = await fs.readFile(join(layout.releases, m.version, '.tarball-sha256'), 'utf8').catch(() => undefined);
  // Another build of this version already unpacked (not this one): this one gets its own directory.
  const id = existing !== undefined && existing.trim() !== m.tarball.sha256 ? `${m.version}-${m.tarball.sha256.slice(0, 8)}` : m.version;
  if (id === d.running.id) throw new CamdError('invalid_args', `release ${id} is the one running`, 'url');
  const dir = layout.release(id);
  if ((await fs.readFile(join(dir, '.tarball-sha256'), 'utf8').catch(() => '')).trim() === m.tarball.sha256) return id; // unpacked before (an update cut after this step)
  const incoming = join(layout.releases, `.incoming-${id}`);
  await fs.rm(incoming, { recursive: true, force: true });
  await fs.mkdir(incoming, { recursive: true });
  try {
    await d.run({ name: 'update.unpack', command: 'tar', args: ['-xzf', tarball, '-C', incoming, '--strip-components=1', '--no-same-owner'], timeoutMs: 10 * 60_000 });
    const meta = JSON.parse(await fs.readFile(join(incoming, 'release.json'), 'utf8').catch(() => '{}')) as { version?: unknown; arch?: unknown };
    if (meta.version !== m.version || meta.arch !== m.arch) {
      throw new CamdError('invalid_args', `the tarball's release.json says ${String(meta.version)}/${String(meta.arch)}, the manifest ${m.version}/${m.arch}`, 'url');
    }
    await fs.access(join(incoming, 'bin', 'camd'), fs.constants.X_OK).catch(() => {
      throw new CamdError('invalid_args', `release ${m.version} has no executable bin/camd`, 'url');
    });
    await fs.writeFile(join(incoming, '.tarball-sha256'), `${m.tarball.sha256}\n`);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(incoming, dir);
  } catch (err) {
    await fs.rm(incoming, { recursive: true, force: true });
    throw err;
  }
  return id;
}

/** One download at a time is kept: a partial of another release is of no further use. */
async function removeOtherDownloads(layout: ReleaseLayout, keep: string): Promise<void> {
  const names = await fs.readdir(layout.downloads).catch(() => [] as string[]);
  for (const n of names) if (n !== keep) await fs.rm(join(layout.downloads, n), { recursive: true, force: true });
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}
