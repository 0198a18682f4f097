import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BoardError, loadBoard } from '../../../board/schema.js';

const boardDir = resolve(import.meta.dirname, '../../../board');
const tmp = mkdtempSync(join(tmpdir(), 'camd-board-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function brokenCopy(file: string, edit: (b: Record<string, any>) => void): string {
  const raw = JSON.parse(readFileSync(join(boardDir, file), 'utf8')) as Record<string, any>;
  edit(raw);
  const out = join(tmp, `broken-${file}`);
  writeFileSync(out, JSON.stringify(raw));
  return out;
}

describe('board files', () => {
  it('sim.json parses as a sim board', () => {
    const b = loadBoard(join(boardDir, 'sim.json'));
    expect(b.backend).toBe('sim');
    expect(b.i2c.devices.pwm?.model).toBe('pca9685');
  });

  it('devkit.json parses as a hardware board with the real backends', () => {
    const b = loadBoard(join(boardDir, 'devkit.json'));
    expect([b.backend, b.gpio.backend, b.i2c.backend, b.serial.backend]).toEqual(['hardware', 'gpiod', 'i2c-bus', 'serialport']);
    expect(b.serial.ports.rs485).toEqual({ path: '/dev/ttyS3', baudRate: 9600, rs485: true });
    expect(b.video.wide.source).toEqual({ kind: 'v4l2', device: '/dev/video0', inputFormat: 'h264' });
    expect(b.system.reboot).toEqual(['systemctl', 'reboot']);
    expect(b.paths.model).toBe(join(resolve(boardDir, '..'), 'src/detect/models/FastestDet.onnx'));
    expect(b.identity).toEqual({ source: 'file', path: '/etc/camd/identity.json' });
  });

  it('a broken copy fails naming the file, the path and the problem', () => {
    const file = brokenCopy('devkit.json', (b) => {
      b.outputs.siren.line = b.outputs.ledRed.line;
    });
    expect(() => loadBoard(file)).toThrow(BoardError);
    try {
      loadBoard(file);
    } catch (err) {
      const e = err as BoardError;
      expect(e.file).toBe(file);
      expect(e.path).toBe('outputs.siren');
      expect(e.problem).toMatch(/GPIO line 13 on gpio3 is already used by outputs.ledRed/);
      expect(e.message).toBe(`board file ${file}: outputs.siren: ${e.problem}`);
    }
  });

  it('a typo in a key is reported at its path', () => {
    const file = brokenCopy('sim.json', (b) => {
      b.ptz.pan.maxSpeedDegs = 10;
    });
    expect(() => loadBoard(file)).toThrow(/sim.json: ptz.pan.maxSpeedDegs: unknown key/);
  });
});
