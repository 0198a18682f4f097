import { afterEach, describe, expect, it } from 'vitest';
import { CLOCK_HINT, parseChronyTracking, parseTimedatectl, setClockSynced, withClockHint } from '../../../src/core/clock-sync.js';
import { formatInZone, isTimeZone, timeZoneError } from '../../../src/core/timezone.js';
import { ConfigSchema } from '../../../src/config/schema.js';

const chrony = (ref: string, leap: string): string =>
  `Reference ID    : ${ref} (ntp.example)\nStratum         : 3\nRef time (UTC)  : Wed Dec 02 04:45:34 2026\nSystem time     : 0.000012 seconds fast of NTP time\nLeap status     : ${leap}\n`;

describe('clock probes', () => {
  it('reads timedatectl NTPSynchronized', () => {
    expect(parseTimedatectl('yes\n')).toBe(true);
    expect(parseTimedatectl('no\n')).toBe(false);
    expect(parseTimedatectl('')).toBeUndefined();
    expect(parseTimedatectl('Failed to connect to bus')).toBeUndefined();
  });

  it('reads chronyc tracking: a reference and a normal leap status', () => {
    expect(parseChronyTracking(chrony('C0A80001', 'Normal'))).toBe(true);
    expect(parseChronyTracking(chrony('00000000', 'Normal'))).toBe(false);
    // chrony keeps the last reference after losing every source: the leap status decides.
    expect(parseChronyTracking(chrony('C0A80001', 'Not synchronised'))).toBe(false);
    expect(parseChronyTracking('506 Cannot talk to daemon')).toBeUndefined();
  });
});

describe('TLS errors while the clock is unsynchronised', () => {
  afterEach(() => setClockSynced(undefined));

  it('names the clock for certificate-date errors only, and only while unsynced', () => {
    const notYet = 'CERT_NOT_YET_VALID: certificate is not yet valid';
    expect(withClockHint(notYet, false)).toBe(`${notYet} — ${CLOCK_HINT}`);
    expect(withClockHint('CERT_HAS_EXPIRED: certificate has expired', false)).toContain(CLOCK_HINT);
    expect(withClockHint('TLS: the server was not accepted (The certificate is NOT active yet)', false)).toContain(CLOCK_HINT);
    expect(withClockHint(notYet, true)).toBe(notYet);
    expect(withClockHint(notYet, undefined)).toBe(notYet);
    expect(withClockHint('ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8883', false)).not.toContain(CLOCK_HINT);
    expect(withClockHint('DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate', false)).not.toContain(CLOCK_HINT);
  });

  it('uses the process-wide verdict by default and never adds the hint twice', () => {
    setClockSynced(false);
    const once = withClockHint('certificate has expired');
    expect(once).toContain(CLOCK_HINT);
    expect(withClockHint(once)).toBe(once);
    setClockSynced(true);
    expect(withClockHint('certificate has expired')).toBe('certificate has expired');
  });
});

describe('device.timezone', () => {
  const parse = (timezone: unknown) => ConfigSchema.safeParse({ device: { timezone } });

  it('accepts IANA zones and UTC', () => {
    for (const z of ['UTC', 'Etc/UTC', 'Europe/Amsterdam', 'America/New_York', 'Asia/Kolkata']) {
      expect(isTimeZone(z)).toBe(true);
      expect(parse(z).success).toBe(true);
    }
    expect(ConfigSchema.parse({}).device.timezone).toBe('UTC');
  });

  it('refuses a traversal with a precise error, and non-zones', () => {
    const r = parse('../../../../etc/passwd');
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    expect(issue.path).toEqual(['device', 'timezone']);
    expect(issue.message).toBe(timeZoneError('../../../../etc/passwd'));
    expect(issue.message).toMatch(/is a path, not a time zone/);
    for (const z of ['Europe/Atlantis', 'europe/amsterdam', 'Europe/../Europe/Paris', '/etc/localtime']) {
      expect(parse(z).success, z).toBe(false);
    }
    expect(timeZoneError('Mars/Olympus')).toMatch(/is not an IANA time zone/);
  });

  it('shows a UTC instant in the zone', () => {
    const t = Date.UTC(2026, 11, 2, 4, 45, 34, 120);
    expect(formatInZone(t, 'UTC', { ms: true })).toBe('2026-12-02 04:45:34.120 UTC');
    expect(formatInZone(t, 'Europe/Amsterdam')).toMatch(/^2026-12-02 05:45:34 (CET|GMT\+1)$/);
    expect(formatInZone(t, 'America/New_York', { date: false })).toMatch(/^23:45:34 (EST|GMT-5)$/);
    // Never throws on a bad zone (an old config): falls back to UTC.
    expect(formatInZone(t, '../../etc/passwd')).toBe('2026-12-02 04:45:34 UTC');
  });
});
