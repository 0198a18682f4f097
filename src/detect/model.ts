import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CamdError, errorMessage } from '../core/errors.js';

/**
 * The shipped model and its fingerprint. The daemon refuses any other bytes: a truncated copy
 * on a flaky flash or a swapped file would otherwise give silent garbage detections. The hash
 * is the one of `FastestDet.onnx` from dog-qiuqiu/FastestDet (BSD-3-Clause, see the licence
 * file beside it); `example/onnx-runtime/FastestDet.onnx`, input 1x3x352x352, output 1x85x22x22.
 */
export const MODEL_SHA256 = '31cb14c017fce347cb4c846ec62fdf00d76bb3beecdf4be21e7116ac67feb880';

export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('./models/FastestDet.onnx', import.meta.url));

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads and verifies the model. Throws CamdError('unavailable') with the reason (missing,
 * unreadable, wrong hash) — the daemon logs it and keeps image-change detection running.
 */
export async function loadVerifiedModel(path = DEFAULT_MODEL_PATH, expected = MODEL_SHA256): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new CamdError('unavailable', `object detection model ${path}: ${why}`);
  }
  const got = sha256(bytes);
  if (got !== expected.toLowerCase()) {
    throw new CamdError('unavailable', `object detection model ${path}: SHA-256 ${got} does not match the expected ${expected} (corrupt or replaced file)`);
  }
  return bytes;
}
