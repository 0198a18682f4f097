import QRCode from 'qrcode';
import { call } from '../client.js';
import { colourEnabled, kv } from '../format.js';
import { obj, processIo, str, type Io } from './io.js';

export interface IdentityOptions {
  json: boolean;
  /** Colour codes allowed (default: format.ts decides: a terminal and no NO_COLOR). */
  colour?: boolean;
  io?: Io;
}

/**
 * The pairing QR code as terminal text. With colour: the `terminal` renderer, which sets black on
 * white itself, so it scans on any terminal theme. Without colour (NO_COLOR, a pipe): plain block
 * characters drawn for the usual dark SSH terminal (light modules as blocks, dark modules as the
 * background); phone scanners read it, and `--json` has the payload for anything else.
 */
export async function drawQr(payload: string, colour: boolean): Promise<string> {
  if (colour) return QRCode.toString(payload, { type: 'terminal', small: true });
  return QRCode.toString(payload, { type: 'utf8', margin: 2, color: { dark: '#ffffff', light: '#000000' } });
}

/**
 * `camctl identity`: serial, verification code, model and the pairing payload, with the QR code
 * drawn under them (what the label on the camera shows). `--json`: the daemon's reply unchanged.
 */
export async function runIdentity(sock: string, opts: IdentityOptions): Promise<number> {
  const io = opts.io ?? processIo();
  const reply = await call(sock, 'identity', {});
  if (opts.json) {
    io.out.write(`${JSON.stringify(reply)}\n`);
    return reply.ok ? 0 : 1;
  }
  if (!reply.ok) {
    io.err.write(`camctl: identity: ${reply.error.message}\n`);
    return 1;
  }
  const r = obj(reply.result);
  const payload = str(r.qr);
  const rows: [string, string][] = [
    ['serial', str(r.serial)],
    ['verification', str(r.verificationCode)],
    ['model', str(r.model)],
    ['base topic', str(r.baseTopic)],
    ['QR payload', payload],
  ];
  io.out.write(`${kv(rows.filter(([, v]) => v !== ''), 0).join('\n')}\n`);
  if (payload) io.out.write(`\n${await drawQr(payload, opts.colour ?? colourEnabled())}\n`);
  return 0;
}
