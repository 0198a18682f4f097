import { describe, expect, it } from 'vitest';
import { asProgress, ProgressLine, progressText } from '../../../../src/cli/ops/progress.js';
import { jpegSize, kb } from '../../../../src/cli/ops/jpeg.js';
import { fakeIo } from './fake-io.js';

describe('ProgressLine', () => {
  it('on a terminal: one line rewritten in place (padded over a longer one), cleared at the end', () => {
    const io = fakeIo({ outTty: true });
    const p = new ProgressLine(io, true);
    p.show('shot 1/8 …');
    p.show('shot 1/8 …');
    p.show('stitching');
    p.done();
    expect(io.text()).toBe('\rshot 1/8 …\rstitching \r          \r');
  });

  it('not a terminal: a line per phase key, each once, no carriage returns', () => {
    const io = fakeIo();
    const p = new ProgressLine(io, false);
    p.show('uploading 1.0 MB / 9.0 MB', 'uploading');
    p.show('uploading 2.0 MB / 9.0 MB', 'uploading');
    p.show('shot 1/3');
    p.show('shot 2/3');
    p.done();
    expect(io.text()).toBe('uploading 1.0 MB / 9.0 MB\nshot 1/3\nshot 2/3\n');
  });

  it('reads a Progress out of untyped state JSON and says it in a few words', () => {
    expect(asProgress({ phase: 'shot', step: 3, steps: 8, startedAt: 1 })).toEqual({ phase: 'shot', step: 3, steps: 8, startedAt: 1 });
    expect(progressText(asProgress({ phase: 'shot', step: 3, steps: 8, startedAt: 1 })!)).toBe('shot 3/8');
    expect(progressText(asProgress({ phase: 'erasing', startedAt: 1 })!)).toBe('erasing');
    expect(asProgress(undefined)).toBeUndefined();
    expect(asProgress({ phase: 3, startedAt: 1 })).toBeUndefined();
  });
});

describe('JPEG helpers', () => {
  it('reads width and height from the SOF0 frame header, past APP segments', () => {
    const app0 = [0xff, 0xe0, 0x00, 0x10, ...new Array<number>(14).fill(0)];
    const sof0 = [0xff, 0xc0, 0x00, 0x11, 0x08, 0x04, 0x38, 0x07, 0x80, 0x03, ...new Array<number>(9).fill(0)];
    expect(jpegSize(Uint8Array.from([0xff, 0xd8, ...app0, ...sof0, 0xff, 0xd9]))).toEqual({ width: 1920, height: 1080 });
    expect(jpegSize(Uint8Array.from([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
  });

  it('sizes in decimal units', () => {
    expect(kb(31_200)).toBe('31.2 KB');
    expect(kb(2_500_000)).toBe('2.5 MB');
  });
});
