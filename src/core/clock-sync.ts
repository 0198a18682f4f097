/**
 * Whether the system clock can be trusted. A board without an RTC boots in 1970 (or at the last
 * fake-hwclock save) until NTP answers: event times, recording names, retention and every TLS
 * certificate check depend on it. The time service (src/time/service.ts) probes the board's time
 * daemon and records the verdict here and in `state.clock`; this module is the pure part — the
 * probe parsers, the verdict, and the hint a TLS error gets while the clock is not synchronised.
 *
 * The verdict is process-wide on purpose: the clock it describes is the process's (Date.now()),
 * and the places that need it (the event bus's stamp, the TLS error texts of the cloud link, the
 * live push and the updater) are deep inside code that has no service context to ask.
 */

let synced: boolean | undefined;

/** The time service's verdict; undefined while no time service runs (unit tests, a tool). */
export function clockSynced(): boolean | undefined {
  return synced;
}

/** Set by the time service only (undefined again when it stops). */
export function setClockSynced(value: boolean | undefined): void {
  synced = value;
}

/**
 * `timedatectl show -p NTPSynchronized --value` (systemd-timesyncd, or whatever NTP client
 * systemd-timedated sees) prints `yes` or `no`. Anything else is not a verdict.
 */
export function parseTimedatectl(stdout: string): boolean | undefined {
  const v = stdout.trim().toLowerCase();
  if (v === 'yes') return true;
  if (v === 'no') return false;
  return undefined;
}

/**
 * `chronyc tracking`: synchronised when it names a reference (not `00000000 ()`, chrony's "none")
 * and its leap status is not `Not synchronised`. A reference alone is not enough: chrony keeps
 * the last one while it has lost every source.
 */
export function parseChronyTracking(stdout: string): boolean | undefined {
  const ref = /^Reference ID\s*:\s*([0-9A-Fa-f]{8})/m.exec(stdout);
  const leap = /^Leap status\s*:\s*(.+)$/m.exec(stdout);
  if (!ref || !leap) return undefined;
  if (/not synchroni[sz]ed/i.test(leap[1]!)) return false;
  return ref[1] !== '00000000';
}

/** What a certificate's validity check says when the clock is off (OpenSSL/Node codes, GnuTLS texts). */
const CERT_TIME = /CERT_NOT_YET_VALID|CERT_HAS_EXPIRED|certificate is not yet valid|certificate has expired|certificate (?:is )?expired|not yet activated|The certificate is NOT active yet/i;

export const CLOCK_HINT = "the camera's clock is not synchronised (no NTP answer yet), so certificate dates cannot be checked";

/**
 * A TLS failure caused by a bad clock, named as such: while the clock is unsynchronised, a
 * "certificate not yet valid / expired" error gets CLOCK_HINT appended. Other messages, and every
 * message once the clock is synchronised, are returned unchanged.
 */
export function withClockHint(message: string, isSynced: boolean | undefined = synced): string {
  if (isSynced !== false || !CERT_TIME.test(message) || message.includes(CLOCK_HINT)) return message;
  return `${message} — ${CLOCK_HINT}`;
}
