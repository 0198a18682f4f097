import { describe, expect, it } from 'vitest';
import { drawQr } from '../../../../src/cli/ops/identity.js';
import { decodeTerminalQr } from './qr-decode.js';

const PAYLOAD = 'CAMD:SN=CAMSIM0000001;VC=QWERTY;M=sim';

describe('identity QR code drawn in the terminal', () => {
  it('with colour (black on white set by the renderer) decodes back to the payload', async () => {
    const text = await drawQr(PAYLOAD, true);
    expect(text).toContain('\u001b[');
    expect(decodeTerminalQr(text, true)).toBe(PAYLOAD);
  });

  it('without colour (NO_COLOR, a pipe): plain blocks, light modules as blocks for a dark terminal, decodes back', async () => {
    const text = await drawQr(PAYLOAD, false);
    expect(text).not.toContain('\u001b');
    // Blocks are light modules: read with the foreground light.
    expect(decodeTerminalQr(text, false)).toBe(PAYLOAD);
    // Fits an 80-column SSH terminal.
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
  });

  it('the decoder is not fooled: another payload does not decode to this one', async () => {
    expect(decodeTerminalQr(await drawQr('CAMD:SN=OTHER;VC=XYZ;M=sim', false), false)).toBe('CAMD:SN=OTHER;VC=XYZ;M=sim');
  });
});
