import jsQRModule from 'jsqr';

type JsQr = typeof jsQRModule.default;
// CommonJS interop: node's ESM loader hands over module.exports (`.default` is the function), vitest's the function itself.
const jsQR: JsQr = (jsQRModule as unknown as { default?: JsQr }).default ?? (jsQRModule as unknown as JsQr);

/**
 * Reads a QR code drawn as terminal text back into its payload: half-block characters (each cell
 * is two modules, top and bottom) with the ANSI colours the `terminal` renderer sets, or none
 * (then `fgDark` says whether a block is a dark module). Upscaled into an image for jsQR.
 */
export function decodeTerminalQr(text: string, fgDark: boolean): string | undefined {
  const rows: boolean[][] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    // true = dark. Defaults until an escape code says otherwise.
    let fg = fgDark;
    let bg = !fgDark;
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (ch === '\u001b') {
        const end = line.indexOf('m', i);
        for (const code of line.slice(i + 2, end).split(';')) {
          if (code === '0') {
            fg = fgDark;
            bg = !fgDark;
          } else if (code === '30') fg = true;
          else if (code === '37') fg = false;
          else if (code === '40') bg = true;
          else if (code === '47') bg = false;
        }
        i = end;
        continue;
      }
      const [t, b] = ch === '█' ? [fg, fg] : ch === '▀' ? [fg, bg] : ch === '▄' ? [bg, fg] : [bg, bg];
      top.push(t);
      bottom.push(b);
    }
    rows.push(top, bottom);
  }
  const width = Math.max(...rows.map((r) => r.length));
  const scale = 6;
  const border = 4;
  const w = (width + 2 * border) * scale;
  const h = (rows.length + 2 * border) * scale;
  const px = new Uint8ClampedArray(w * h * 4).fill(255);
  rows.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const o = (((y + border) * scale + dy) * w + (x + border) * scale + dx) * 4;
          px[o] = px[o + 1] = px[o + 2] = 0;
        }
      }
    }),
  );
  return jsQR(px, w, h)?.data;
}
