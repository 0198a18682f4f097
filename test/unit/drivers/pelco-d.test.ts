import { describe, expect, it } from 'vitest';
import { angleToWire, checksum, decodeFrame, encodeFrame, interpret, pelcoD, PelcoDParser, tiltFromWire } from '../../../drivers/devices/pelco-d.js';

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0').toUpperCase()).join(' ');

describe('Pelco-D encoding', () => {
  it('encodes the standard commands byte-exactly', () => {
    expect(hex(pelcoD.move(1, 0x20, 0))).toBe('FF 01 00 02 20 00 23');
    expect(hex(pelcoD.move(1, -0x20, 0))).toBe('FF 01 00 04 20 00 25');
    expect(hex(pelcoD.move(1, 0, 0x3f))).toBe('FF 01 00 08 00 3F 48');
    expect(hex(pelcoD.move(2, 0x10, -0x08))).toBe('FF 02 00 12 10 08 2C');
    expect(hex(pelcoD.stop(1))).toBe('FF 01 00 00 00 00 01');
  });

  it('encodes presets and the extended position commands byte-exactly', () => {
    expect(hex(pelcoD.setPreset(1, 5))).toBe('FF 01 00 03 00 05 09');
    expect(hex(pelcoD.clearPreset(1, 5))).toBe('FF 01 00 05 00 05 0B');
    expect(hex(pelcoD.gotoPreset(1, 5))).toBe('FF 01 00 07 00 05 0D');
    // 123.45° = 12345 = 0x3039
    expect(hex(pelcoD.setPanPosition(1, 123.45))).toBe('FF 01 00 4B 30 39 B5');
    // 45.00° = 4500 = 0x1194
    expect(hex(pelcoD.setTiltPosition(1, 45))).toBe('FF 01 00 4D 11 94 F3');
    // -10.00° wraps to 36000 - 1000 = 35000 = 0x88B8
    expect(hex(pelcoD.setTiltPosition(1, -10))).toBe('FF 01 00 4D 88 B8 8E');
    expect(hex(pelcoD.queryPan(1))).toBe('FF 01 00 51 00 00 52');
    expect(hex(pelcoD.queryTilt(2))).toBe('FF 02 00 53 00 00 55');
    expect(hex(pelcoD.panPositionReply(1, 123.45))).toBe('FF 01 00 59 30 39 C3');
    expect(hex(pelcoD.tiltPositionReply(1, -10))).toBe('FF 01 00 5B 88 B8 9C');
  });

  it('computes the checksum as the sum of bytes 2..6 modulo 256', () => {
    expect(checksum({ address: 0xff, cmd1: 0xff, cmd2: 0xff, data1: 0xff, data2: 0xff })).toBe((5 * 0xff) & 0xff);
    const f = encodeFrame({ address: 0x80, cmd1: 0x80, cmd2: 0x80, data1: 0x80, data2: 0x80 });
    expect(f[6]).toBe(0x80);
  });

  it('refuses out-of-range arguments', () => {
    expect(() => pelcoD.move(1, 64, 0)).toThrow(RangeError);
    expect(() => pelcoD.move(1, 1.5, 0)).toThrow(RangeError);
    expect(() => pelcoD.setPreset(1, 0)).toThrow(RangeError);
    expect(() => pelcoD.stop(256)).toThrow(RangeError);
    expect(() => pelcoD.setPanPosition(1, Number.NaN)).toThrow(RangeError);
  });

  it('wraps angles modulo 360° and reads tilt ≥ 180° as negative', () => {
    expect(angleToWire(0)).toBe(0);
    expect(angleToWire(359.99)).toBe(35999);
    expect(angleToWire(360)).toBe(0);
    expect(angleToWire(-0.01)).toBe(35999);
    expect(tiltFromWire(35999)).toBe(-0.01);
    expect(tiltFromWire(17999)).toBe(179.99);
  });

  it('decodes and interprets what it encodes', () => {
    expect(interpret(decodeFrame(pelcoD.move(3, -5, 7)))).toEqual({ type: 'move', pan: -5, tilt: 7 });
    expect(interpret(decodeFrame(pelcoD.gotoPreset(3, 9)))).toEqual({ type: 'goto-preset', preset: 9 });
    expect(interpret(decodeFrame(pelcoD.setPanPosition(3, 300.5)))).toEqual({ type: 'set-pan-position', deg: 300.5 });
    expect(interpret(decodeFrame(pelcoD.setTiltPosition(3, -7.25)))).toEqual({ type: 'set-tilt-position', deg: -7.25 });
    expect(interpret(decodeFrame(pelcoD.panPositionReply(3, 12.34)))).toEqual({ type: 'pan-position', deg: 12.34 });
    expect(interpret(decodeFrame(pelcoD.queryTilt(3)))).toEqual({ type: 'query-tilt' });
    // Zoom tele only: a standard command with no pan/tilt bits stops both axes.
    expect(interpret({ address: 1, cmd1: 0, cmd2: 0x20, data1: 0, data2: 0 })).toEqual({ type: 'move', pan: 0, tilt: 0 });
    expect(interpret({ address: 1, cmd1: 0x02, cmd2: 0, data1: 0, data2: 0 })).toEqual({ type: 'other' });
  });

  it('rejects a frame with a bad checksum, sync or length', () => {
    const f = pelcoD.queryPan(1);
    f[6] = 0;
    expect(() => decodeFrame(f)).toThrow(/checksum/);
    expect(() => decodeFrame(Uint8Array.of(0xfe, 1, 0, 0x51, 0, 0, 0x52))).toThrow(/0xFF/);
    expect(() => decodeFrame(Uint8Array.of(0xff, 1))).toThrow(/7 bytes/);
  });
});

describe('PelcoDParser', () => {
  it('reassembles frames split across chunks', () => {
    const p = new PelcoDParser();
    const f = pelcoD.panPositionReply(1, 10);
    expect(p.push(f.subarray(0, 3))).toEqual([]);
    expect(p.push(f.subarray(3))).toEqual([{ address: 1, cmd1: 0, cmd2: 0x59, data1: 0x03, data2: 0xe8 }]);
  });

  it('resyncs after garbage, including 0xFF bytes inside the garbage', () => {
    const rejected: Uint8Array[] = [];
    const p = new PelcoDParser((c) => rejected.push(c));
    const a = pelcoD.queryPan(1);
    const b = pelcoD.move(2, 0x3f, 0);
    const stream = Uint8Array.from([0x12, 0xff, 0x34, ...a, 0x00, 0xff, 0xff, ...b]);
    const frames = p.push(stream);
    expect(frames.map((f) => f.address)).toEqual([1, 2]);
    expect(p.stats.frames).toBe(2);
    expect(p.stats.badChecksum).toBeGreaterThan(0);
    expect(rejected.length).toBe(p.stats.badChecksum);
  });

  it('drops a frame with a bad checksum and keeps the next good one', () => {
    const p = new PelcoDParser();
    const bad = pelcoD.queryPan(1);
    bad[6] = bad[6]! ^ 0x01;
    const frames = p.push(Uint8Array.from([...bad, ...pelcoD.queryTilt(1)]));
    expect(frames).toEqual([{ address: 1, cmd1: 0, cmd2: 0x53, data1: 0, data2: 0 }]);
    expect(p.stats.badChecksum).toBe(1);
  });

  it('finds a frame whose data and checksum contain 0xFF', () => {
    const p = new PelcoDParser();
    // Pan right at "turbo" 0xFF: checksum = 01 + 00 + 02 + FF + 00 = 0x102 → 0x02.
    const f = encodeFrame({ address: 1, cmd1: 0, cmd2: 0x02, data1: 0xff, data2: 0 });
    expect(p.push(Uint8Array.from([0xff, 0xff, ...f]))).toHaveLength(1);
  });
});
