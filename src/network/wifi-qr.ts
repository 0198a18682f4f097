/**
 * The provisioning QR payload: the de-facto standard Wi-Fi QR code (as phones show for "share
 * Wi-Fi"), plus one field of ours, `B`, carrying the cloud binding token:
 *
 *   WIFI:T:WPA;S:<ssid>;P:<passphrase>;B:<binding token>;;
 *
 * - Fields are `K:value` separated by `;`, the record ends with `;;`; order does not matter.
 * - In values, `\`, `;`, `,`, `:` and `"` are escaped with a backslash.
 * - T: WPA, WPA2, WPA3 or SAE (WPA-family passphrase networks). WEP and `nopass` (open) networks
 *   are refused: the camera does not put its video on a network anyone can read.
 * - S: SSID, 1..32 bytes; P: passphrase, 8..63 characters; B: binding token, 8..256 characters
 *   (the app got it from the cloud; the camera stores it in its secrets and presents it when it
 *   registers). H (hidden) is accepted and ignored: joining by name works for hidden networks too.
 */
export interface WifiQr {
  ssid: string;
  psk: string;
  bindingToken: string;
}

export type ParseResult = { ok: true; value: WifiQr } | { ok: false; error: string };

const ESCAPABLE = /([\\;,:"])/g;

export function formatWifiQr(v: WifiQr, security = 'WPA'): string {
  const esc = (s: string): string => s.replace(ESCAPABLE, '\\$1');
  return `WIFI:T:${security};S:${esc(v.ssid)};P:${esc(v.psk)};B:${esc(v.bindingToken)};;`;
}

export function parseWifiQr(text: string): ParseResult {
  if (!text.startsWith('WIFI:')) return { ok: false, error: 'not a Wi-Fi QR code (no WIFI: prefix)' };
  const fields = new Map<string, string>();
  let key = '';
  let val = '';
  let inValue = false;
  const body = text.slice(5);
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && inValue && i + 1 < body.length) {
      val += body[++i];
    } else if (!inValue && c === ':') {
      inValue = true;
    } else if (c === ';') {
      if (key !== '' || val !== '') {
        if (!inValue) return { ok: false, error: `field "${key}" has no value` };
        if (fields.has(key)) return { ok: false, error: `field ${key} given twice` };
        fields.set(key, val);
      }
      key = '';
      val = '';
      inValue = false;
    } else if (inValue) {
      val += c;
    } else {
      key += c;
    }
  }
  if (key !== '' || val !== '') return { ok: false, error: 'unterminated field (missing ";;")' };
  const t = (fields.get('T') ?? '').toUpperCase();
  if (!['WPA', 'WPA2', 'WPA3', 'SAE'].includes(t)) {
    return { ok: false, error: t === '' || t === 'NOPASS' ? 'open networks are not supported' : `security "${t}" not supported (WPA/WPA2/WPA3 only)` };
  }
  const ssid = fields.get('S');
  const psk = fields.get('P');
  const bindingToken = fields.get('B');
  if (!ssid || Buffer.byteLength(ssid, 'utf8') > 32) return { ok: false, error: 'SSID must be 1..32 bytes' };
  if (psk === undefined || psk.length < 8 || psk.length > 63) return { ok: false, error: 'passphrase must be 8..63 characters' };
  if (bindingToken === undefined || bindingToken.length < 8 || bindingToken.length > 256) return { ok: false, error: 'binding token (B) must be 8..256 characters' };
  return { ok: true, value: { ssid, psk, bindingToken } };
}
