import { promises as fs } from 'node:fs';
import { z } from 'zod';
import type { Board } from '../../board/schema.js';
import { CamdError, errorMessage } from '../core/errors.js';
import { parseOrThrow } from '../core/schema-util.js';

/**
 * The device's stable identity: the serial number (SN) and the verification code printed on the
 * housing label, which the app scans (QR) or types to bind the camera. The board file either
 * carries them inline (sim, dev kit) or names a file written at the factory, e.g. on a read-only
 * partition: JSON `{"serial":"…","verificationCode":"…","model":"…"}` (model optional).
 */
export const SERIAL = /^[A-Z0-9]{9,16}$/;
export const VERIFICATION_CODE = /^[A-Z]{6}$/;
const MODEL = /^[A-Za-z0-9._-]{1,32}$/;

const IdentityFile = z
  .object({
    serial: z.string().regex(SERIAL, 'serial must be 9-16 characters A-Z 0-9'),
    verificationCode: z.string().regex(VERIFICATION_CODE, 'verificationCode must be 6 letters A-Z'),
    model: z.string().regex(MODEL, 'model must be 1-32 characters A-Z a-z 0-9 . _ -').optional(),
  })
  .strict();

export interface Identity {
  serial: string;
  verificationCode: string;
  /** Short model code for the label; the board's name when the identity data has none. */
  model: string;
}

/** Reads the identity from the board file (inline) or the factory identity file it names. */
export async function loadIdentity(board: Board): Promise<Identity> {
  const src = board.identity;
  if (src.source === 'inline') return { serial: src.serial, verificationCode: src.verificationCode, model: modelCode(board.name) };
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(src.path, 'utf8'));
  } catch (err) {
    throw new CamdError('unavailable', `identity file ${src.path}: ${errorMessage(err)}`, 'identity.path');
  }
  const id = parseOrThrow(IdentityFile, raw, 'identity');
  return { serial: id.serial, verificationCode: id.verificationCode, model: id.model ?? modelCode(board.name) };
}

function modelCode(name: string): string {
  const code = name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 32);
  return code || 'camd';
}

/**
 * The text in the QR code on the housing label: `CAMD:SN=<serial>;VC=<code>;M=<model>`. Serial and
 * code are [A-Z0-9] by construction; the model is restricted to [A-Za-z0-9._-], so no field can
 * contain the `;`/`=` separators.
 */
export function qrPayload(id: Identity): string {
  return `CAMD:SN=${id.serial};VC=${id.verificationCode};M=${id.model}`;
}

/** Inverse of qrPayload, for the app side and the tests; throws on anything else. */
export function parseQrPayload(text: string): Identity {
  const m = /^CAMD:SN=([A-Z0-9]{9,16});VC=([A-Z]{6});M=([A-Za-z0-9._-]{1,32})$/.exec(text);
  if (!m) throw new CamdError('invalid_args', 'not a camd label payload (CAMD:SN=…;VC=…;M=…)');
  return { serial: m[1]!, verificationCode: m[2]!, model: m[3]! };
}
