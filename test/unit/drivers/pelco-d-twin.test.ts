import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { decodeFrame, pelcoD } from '../../../drivers/devices/pelco-d.js';
import { PelcoDTwin } from '../../../drivers/devices/pelco-d-twin.js';
import { createSimSerialPair } from '../../../drivers/serial/sim.js';
import { Timeline } from '../../../drivers/timeline.js';

const pan = { minDeg: 0, maxDeg: 355, maxSpeedDegS: 90, homeDeg: 0 };
const tilt = { minDeg: -10, maxDeg: 90, maxSpeedDegS: 45, homeDeg: 0 };

describe('PelcoDTwin', () => {
  let twin: PelcoDTwin;
  const send = (bytes: Uint8Array) => twin.handle(decodeFrame(bytes));

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 0 });
    twin = new PelcoDTwin({ address: 1, clock: systemClock, pan, tilt });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts at home and moves at speed byte / 0x3F × maxSpeedDegS, computed from the clock', () => {
    expect(twin.position()).toEqual({ pan: 0, tilt: 0 });
    send(pelcoD.move(1, 0x3f, 0));
    vi.setSystemTime(1000);
    expect(twin.position().pan).toBeCloseTo(90, 9);
    send(pelcoD.move(1, 0x20, 0x10)); // half-ish speed on pan, tilt up
    vi.setSystemTime(2000);
    expect(twin.position().pan).toBeCloseTo(90 + (90 * 0x20) / 0x3f, 9);
    expect(twin.position().tilt).toBeCloseTo((45 * 0x10) / 0x3f, 9);
    send(pelcoD.stop(1));
    const held = twin.position();
    vi.setSystemTime(5000);
    expect(twin.position()).toEqual(held);
  });

  it('stops at the end stops and never passes them', () => {
    send(pelcoD.move(1, -0x3f, -0x3f));
    vi.setSystemTime(60_000);
    expect(twin.position()).toEqual({ pan: 0, tilt: -10 });
    send(pelcoD.move(1, 0x3f, 0x3f));
    vi.setSystemTime(120_000);
    expect(twin.position()).toEqual({ pan: 355, tilt: 90 });
  });

  it('goes to an absolute position at full speed and stops exactly there', () => {
    send(pelcoD.setPanPosition(1, 180));
    vi.setSystemTime(1000);
    expect(twin.position().pan).toBeCloseTo(90, 9); // half way at 90°/s
    vi.setSystemTime(2000);
    expect(twin.position().pan).toBe(180);
    vi.setSystemTime(9000);
    expect(twin.position().pan).toBe(180);
    send(pelcoD.setTiltPosition(1, -20)); // beyond the stop: goes to -10
    vi.setSystemTime(20_000);
    expect(twin.position().tilt).toBe(-10);
    expect(twin.moves.map((m) => [m.axis, m.kind, m.target])).toEqual([
      ['pan', 'goto', 180],
      ['tilt', 'goto', -10],
    ]);
  });

  it('answers position queries for its address only', () => {
    send(pelcoD.setPanPosition(1, 123.45));
    vi.setSystemTime(5000);
    expect([...send(pelcoD.queryPan(1))!]).toEqual([...pelcoD.panPositionReply(1, 123.45)]);
    expect([...send(pelcoD.queryTilt(1))!]).toEqual([...pelcoD.tiltPositionReply(1, 0)]);
    expect(send(pelcoD.queryPan(2))).toBeUndefined();
    expect(send(pelcoD.move(2, 0x3f, 0))).toBeUndefined();
    expect(twin.position().pan).toBe(123.45);
    expect(twin.frames).toHaveLength(3);
  });

  it('stores, recalls and clears presets', () => {
    send(pelcoD.setPanPosition(1, 30));
    vi.setSystemTime(1000);
    send(pelcoD.setPreset(1, 7));
    send(pelcoD.setPanPosition(1, 200));
    vi.setSystemTime(5000);
    send(pelcoD.gotoPreset(1, 7));
    vi.setSystemTime(10_000);
    expect(twin.position().pan).toBe(30);
    send(pelcoD.clearPreset(1, 7));
    send(pelcoD.gotoPreset(1, 7)); // unknown preset: nothing happens
    expect(twin.moves.filter((m) => m.axis === 'pan').at(-1)).toMatchObject({ t: 5000, kind: 'goto', from: 200, target: 30 });
  });

  it('as a pan-only motor, ignores tilt and does not answer tilt queries', () => {
    const wide = new PelcoDTwin({ address: 2, clock: systemClock, pan: { minDeg: 0, maxDeg: 340, maxSpeedDegS: 30, homeDeg: 170 } });
    wide.handle(decodeFrame(pelcoD.move(2, 0, 0x3f)));
    wide.handle(decodeFrame(pelcoD.setTiltPosition(2, 45)));
    vi.setSystemTime(10_000);
    expect(wide.position()).toEqual({ pan: 170, tilt: 0 });
    expect(wide.handle(decodeFrame(pelcoD.queryTilt(2)))).toBeUndefined();
  });

  it('answers over a serial link, never inside the write call', async () => {
    const { host, device } = createSimSerialPair('rs485', new Timeline(systemClock));
    twin.attach(device);
    const got: number[] = [];
    host.onData((c) => got.push(...c));
    const written = host.write(pelcoD.queryPan(1));
    expect(got).toEqual([]);
    await written;
    await new Promise((r) => process.nextTick(r));
    expect(got).toEqual([...pelcoD.panPositionReply(1, 0)]);
    twin.detach();
    await host.write(pelcoD.queryPan(1));
    await new Promise((r) => process.nextTick(r));
    expect(got).toHaveLength(7);
  });
});
