import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import { CamdError } from '../core/errors.js';

/** Debian's bundle of the system CAs (package ca-certificates). */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The CA bundle the TLS children verify against when the owner added a CA, in the run dir. */
export const MEDIA_CA_BUNDLE = 'media-ca.pem';

/**
 * The ffmpeg options that make a TLS child verify the server: its certificate chain against the
 * CA file, and its name against the URL's host (GnuTLS: gnutls_x509_crt_check_hostname). Without
 * `tls_verify` ffmpeg (5.1) accepts any certificate. They are protocol options, so they go before
 * the `-i` of an input (talk) or before the URL of an output (push); rtmps and https hand them on
 * to their TLS layer, ffmpeg's RTSP client does not (url-policy.ts treats rtsps as plaintext).
 */
export function tlsArgs(caFile: string | undefined): string[] {
  return ['-tls_verify', '1', ...(caFile ? ['-ca_file', caFile] : [])];
}

/**
 * The CA file for TLS children. With no `media.caFile` in the secrets: the system bundle (or, if
 * the board has none, nothing: GnuTLS then loads the system trust itself). With one: a bundle of
 * the system CAs plus the owner's CA, written to the run dir — ffmpeg's `ca_file` *replaces* the
 * system trust (tls_gnutls.c), and the owner's CA is meant to be trusted besides it.
 */
export class MediaCa {
  private written: string | undefined;

  constructor(
    private readonly runDir: string,
    private readonly systemBundle = SYSTEM_CA_BUNDLE,
  ) {}

  async file(ownerCa: string | undefined): Promise<string | undefined> {
    const system = await readOptional(this.systemBundle);
    if (!ownerCa) return system === undefined ? undefined : this.systemBundle;
    let pem: string;
    try {
      pem = await fs.readFile(ownerCa, 'utf8');
    } catch (err) {
      throw new CamdError('unavailable', `secrets media.caFile ${ownerCa}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'url');
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CamdError('unavailable', `secrets media.caFile ${ownerCa}: not a PEM certificate`, 'url');
    }
    const bundle = `${system ?? ''}\n${pem}\n`;
    const path = join(this.runDir, MEDIA_CA_BUNDLE);
    // Rewritten only when it changes; the rename keeps a child that reads it meanwhile whole.
    if (this.written !== bundle || !(await exists(path))) {
      await writeFileAtomic(path, bundle, 0o644);
      this.written = bundle;
    }
    return path;
  }
}

async function exists(path: string): Promise<boolean> {
  return fs.access(path).then(
    () => true,
    () => false,
  );
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
