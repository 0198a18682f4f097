/**
 * `device.timezone`: an IANA zone name, checked against the zone list of the runtime's ICU
 * (`Intl.supportedValuesOf('timeZone')`, plus `UTC`, which that list leaves out, and the IANA links
 * ICU resolves to one of them, e.g. Asia/Kolkata → Asia/Calcutta). The name only
 * ever picks how times are *shown* (camctl, recording listings); stored times stay UTC epoch ms.
 * A list rather than a pattern: the value reaches Intl, and a shape check would let through
 * `../../../../etc/passwd`-like names a zoneinfo lookup elsewhere could be tricked by.
 */
let zones: ReadonlySet<string> | undefined;

function zoneList(): ReadonlySet<string> {
  zones ??= new Set([...Intl.supportedValuesOf('timeZone'), 'UTC', 'Etc/UTC']);
  return zones;
}

/** How a zone name (and a link such as Asia/Kolkata) is spelt: capitalised segments, no dots or leading slash. */
const ZONE_SHAPE = /^[A-Z][A-Za-z0-9_+-]*(?:\/[A-Z][A-Za-z0-9_+-]*){0,2}$/;

export function isTimeZone(name: string): boolean {
  if (zoneList().has(name)) return true;
  // The list holds ICU's canonical names only (Asia/Calcutta, not the IANA link Asia/Kolkata):
  // a well-spelt name ICU resolves is a zone too.
  if (!ZONE_SHAPE.test(name)) return false;
  try {
    return zoneList().has(new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone);
  } catch {
    return false;
  }
}

/** The precise refusal: a path is named as one; otherwise what a zone looks like. */
export function timeZoneError(name: string): string {
  if (/[/\\]\.\.|\.\.[/\\]|^\.|\0/.test(name)) return `"${name.slice(0, 64)}" is a path, not a time zone: use an IANA zone name such as Europe/Amsterdam or UTC`;
  return `"${name.slice(0, 64)}" is not an IANA time zone (e.g. Europe/Amsterdam, America/New_York, UTC)`;
}

/** `2026-12-02 05:45:34 CET`: epoch ms shown in `zone` (an unknown zone falls back to UTC). */
export function formatInZone(ms: number, zone: string, opts: { ms?: boolean; date?: boolean } = {}): string {
  const tz = isTimeZone(zone) ? zone : 'UTC';
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
    ...(opts.ms && { fractionalSecondDigits: 3 }),
  }).formatToParts(new Date(ms));
  const p = (t: Intl.DateTimeFormatPartTypes): string => parts.find((x) => x.type === t)?.value ?? '';
  const time = `${p('hour')}:${p('minute')}:${p('second')}${opts.ms ? `.${p('fractionalSecond')}` : ''}`;
  const date = opts.date === false ? '' : `${p('year')}-${p('month')}-${p('day')} `;
  return `${date}${time} ${p('timeZoneName')}`;
}
