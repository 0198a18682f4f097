import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../core/atomic-file.js';

/**
 * The release tree the daemon updates (README "Firmware updates"; board: /opt/camd):
 *
 *   <base>/releases/<id>/   unpacked releases        <base>/current  -> releases/<id>
 *   <base>/boot/            trial.json, outcome.json <base>/previous -> releases/<id>
 *   <base>/downloads/       partial and whole downloads
 *
 * `current` and `previous` are relative symlinks switched by rename(2) of a fresh link over the
 * old one, so a reader (systemd starting the unit, the boot guard, a kill -9 at any point) sees
 * the old or the new target, never neither.
 */
export const RELEASE_ID_RE = /^[0-9A-Za-z.+-]{1,64}$/;

export class ReleaseLayout {
  constructor(readonly base: string) {}

  get releases(): string {
    return join(this.base, 'releases');
  }

  get downloads(): string {
    return join(this.base, 'downloads');
  }

  get bootDir(): string {
    return join(this.base, 'boot');
  }

  get trialFile(): string {
    return join(this.bootDir, 'trial.json');
  }

  get outcomeFile(): string {
    return join(this.bootDir, 'outcome.json');
  }

  release(id: string): string {
    if (!RELEASE_ID_RE.test(id) || id.startsWith('.')) throw new Error(`not a release id: ${JSON.stringify(id)}`);
    return join(this.releases, id);
  }

  /** The release id a link (`current`, `previous`) points at, or undefined. */
  async linked(name: 'current' | 'previous'): Promise<string | undefined> {
    const target = await fs.readlink(join(this.base, name)).catch(() => undefined);
    return target === undefined ? undefined : basename(target);
  }

  /** Points `name` at releases/<id> atomically: a temp link renamed over the old one. */
  async point(name: 'current' | 'previous', id: string): Promise<void> {
    this.release(id);
    const tmp = join(this.base, `.${name}.tmp-${process.pid}`);
    await fs.rm(tmp, { force: true });
    await fs.symlink(join('releases', id), tmp);
    await fs.rename(tmp, join(this.base, name));
    // The rename is only durable once the directory is: a power cut right after must not undo it.
    await fsyncDir(this.base);
  }

  async ensureDirs(): Promise<void> {
    for (const d of [this.releases, this.downloads, this.bootDir]) await fs.mkdir(d, { recursive: true, mode: 0o755 });
  }
}

/** What the running code is: a release directory of a tree, or a development run (no tree). */
export interface RunningRelease {
  version: string;
  commit?: string;
  arch?: string;
  node?: string;
  builtAt?: string;
  /** The release's directory name (`<id>`); absent for a development run. */
  id?: string;
  dir?: string;
  /** The tree it belongs to, when it runs from `<base>/releases/<id>`. */
  base?: string;
}

/**
 * Finds the running release: CAMD_RELEASE_DIR (bin/camd of a release sets it, resolved through
 * `current`), else the code's own root when it holds a release.json (a compiled release), else a
 * development run from the repository (package.json's version; updates are refused there).
 */
export async function runningRelease(codeRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<RunningRelease> {
  const candidates = [env.CAMD_RELEASE_DIR, codeRoot].filter((d): d is string => !!d);
  for (const dir of candidates) {
    const meta = await readJson(join(dir, 'release.json'));
    if (!meta || typeof meta.version !== 'string') continue;
    const real = await fs.realpath(dir).catch(() => dir);
    const inTree = basename(dirname(real)) === 'releases';
    const str = (k: string): string | undefined => (typeof meta[k] === 'string' ? meta[k] : undefined);
    return {
      version: meta.version,
      commit: str('commit'),
      arch: str('arch'),
      node: str('node'),
      builtAt: str('builtAt'),
      ...(inTree ? { id: basename(real), dir: real, base: dirname(dirname(real)) } : { dir: real }),
    };
  }
  const pkg = await readJson(join(codeRoot, 'package.json'));
  return { version: typeof pkg?.version === 'string' ? pkg.version : '0.0.0' };
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
