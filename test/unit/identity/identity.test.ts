import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBoard } from '../../../board/schema.js';
import { loadIdentity, parseQrPayload, qrPayload } from '../../../src/identity/identity.js';
import { SIM_BOARD_FILE } from '../../harness/boot.js';

const sim = loadBoard(SIM_BOARD_FILE);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function withFile(content: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'camd-id-'));
  dirs.push(dir);
  const path = join(dir, 'identity.json');
  if (content !== undefined) writeFileSync(path, content);
  return { ...sim, identity: { source: 'file' as const, path } };
}

describe('identity', () => {
  it('reads the inline identity of the sim board and makes the label payload', async () => {
    const id = await loadIdentity(sim);
    expect(id).toEqual({ serial: 'CAMSIM0000001', verificationCode: 'QWERTY', model: 'sim' });
    expect(qrPayload(id)).toBe('CAMD:SN=CAMSIM0000001;VC=QWERTY;M=sim');
    expect(parseQrPayload(qrPayload(id))).toEqual(id);
  });

  it('reads a factory identity file, model included', async () => {
    const board = withFile(JSON.stringify({ serial: 'CAM000123456', verificationCode: 'ABCDEF', model: 'DL-PTZ2' }));
    const id = await loadIdentity(board);
    expect(qrPayload(id)).toBe('CAMD:SN=CAM000123456;VC=ABCDEF;M=DL-PTZ2');
  });

  it('rejects a missing or invalid identity file with the reason and the field', async () => {
    await expect(loadIdentity(withFile(undefined))).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/ENOENT/) });
    await expect(loadIdentity(withFile('{"serial":"cam-1","verificationCode":"ABCDEF"}'))).rejects.toMatchObject({ code: 'invalid_args', path: 'identity.serial' });
    await expect(loadIdentity(withFile('{"serial":"CAM000123456","verificationCode":"abc123"}'))).rejects.toMatchObject({ path: 'identity.verificationCode' });
    await expect(loadIdentity(withFile('{"serial":"CAM000123456","verificationCode":"ABCDEF","model":"a;b"}'))).rejects.toMatchObject({ path: 'identity.model' });
    await expect(loadIdentity(withFile('not json'))).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('keeps separators out of the label: a free-text board name becomes a safe model code', async () => {
    const id = await loadIdentity({ ...sim, name: 'Dev kit; rev=B' });
    expect(id.model).toBe('Dev-kit-rev-B');
    expect(() => parseQrPayload('CAMD:SN=CAM1;VC=ABCDEF;M=x')).toThrow(/not a camd label/);
  });
});
