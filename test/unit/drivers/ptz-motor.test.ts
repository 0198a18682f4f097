import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { pelcoD } from '../../../drivers/devices/pelco-d.js';
import { PelcoDTwin } from '../../../drivers/devices/pelco-d-twin.js';
import { PelcoDBus, PelcoDMotor } from '../../../drivers/devices/ptz-motor.js';
import { createSimSerialPair } from '../../../drivers/serial/sim.js';
import { queuedWrites } from '../../../drivers/serial/write-queue.js';
import { Timeline } from '../../../drivers/timeline.js';

const pan = { minDeg: 0, maxDeg: 355, maxSpeedDegS: 90, homeDeg: 0 };
const tilt = { minDeg: -10, maxDeg: 90, maxSpeedDegS: 45, homeDeg: 0 };

describe('PelcoDMotor over the sim RS-485 pair', () => {
  let timeline: Timeline;
  let pair: ReturnType<typeof createSimSerialPair>;
  let bus: PelcoDBus;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 0 });
    timeline = new Timeline(systemClock);
    pair = createSimSerialPair('rs485', timeline);
    bus = new PelcoDBus(pair.host, { clock: systemClock, replyTimeoutMs: 300 });
  });
  afterEach(() => {
    bus.close();
    vi.useRealTimers();
  });

  it('goes to a position and then reads it back within one step (0.01°)', async () => {
    const twin = new PelcoDTwin({ address: 1, clock: systemClock, pan, tilt });
    twin.attach(pair.device);
    const motor = new PelcoDMotor(bus, 1);
    await motor.gotoPan(123.45);
    await motor.gotoTilt(-7.5);
    vi.advanceTimersByTime(5000);
    const pos = await motor.queryPosition();
    expect(Math.abs(pos.pan - 123.45)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(pos.tilt - -7.5)).toBeLessThanOrEqual(0.01);
    // Byte-exact on the wire, in order: two gotos, then query pan → reply, query tilt → reply.
    const wire = timeline.entries({ kind: 'serial' }).map((e) => (e.kind === 'serial' ? [e.dir, e.bytes] : []));
    expect(wire).toEqual([
      ['tx', [...pelcoD.setPanPosition(1, 123.45)]],
      ['tx', [...pelcoD.setTiltPosition(1, -7.5)]],
      ['tx', [...pelcoD.queryPan(1)]],
      ['rx', [...pelcoD.panPositionReply(1, 123.45)]],
      ['tx', [...pelcoD.queryTilt(1)]],
      ['rx', [...pelcoD.tiltPositionReply(1, -7.5)]],
    ]);
  });

  it('reads a position in the middle of a move', async () => {
    const twin = new PelcoDTwin({ address: 1, clock: systemClock, pan, tilt });
    twin.attach(pair.device);
    const motor = new PelcoDMotor(bus, 1);
    await motor.move(0x3f, 0);
    vi.advanceTimersByTime(500);
    expect((await motor.queryPosition()).pan).toBeCloseTo(45, 2);
    await motor.stop();
    vi.advanceTimersByTime(500);
    expect((await motor.queryPosition()).pan).toBeCloseTo(45, 2);
  });

  it('times out after replyTimeoutMs on the clock when no receiver answers', async () => {
    const motor = new PelcoDMotor(bus, 1);
    const q = motor.queryPosition();
    const settled = vi.fn();
    q.then(settled, settled);
    await vi.advanceTimersByTimeAsync(299);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(q).rejects.toMatchObject({ code: 'ETIMEDOUT', message: 'Pelco-D receiver 1 on rs485 did not answer the pan position query within 300 ms' });
  });

  it('rejects a reply with a bad checksum', async () => {
    pair.device.onData(() => {
      const bad = pelcoD.panPositionReply(1, 10);
      bad[6] = bad[6]! ^ 0xff;
      void pair.device.write(bad);
    });
    await expect(new PelcoDMotor(bus, 1).queryPosition()).rejects.toMatchObject({ code: 'EBADMSG' });
  });

  it('serialises two motors on one bus and matches each reply by address', async () => {
    const shared = queuedWrites(pair.device);
    const head = new PelcoDTwin({ address: 1, clock: systemClock, pan, tilt });
    const wide = new PelcoDTwin({ address: 2, clock: systemClock, pan: { minDeg: 0, maxDeg: 340, maxSpeedDegS: 30, homeDeg: 170 } });
    head.attach(shared);
    wide.attach(shared);
    const a = new PelcoDMotor(bus, 1);
    const b = new PelcoDMotor(bus, 2, { tilt: false });
    await Promise.all([a.gotoPan(10), b.gotoPan(100)]);
    vi.advanceTimersByTime(10_000);
    // Issued together: the bus must not put both queries on the wire at once.
    const [pa, pb] = await Promise.all([a.queryPosition(), b.queryPosition()]);
    expect(pa).toEqual({ pan: 10, tilt: 0 });
    expect(pb).toEqual({ pan: 100, tilt: 0 });
    await expect(b.gotoTilt(5)).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('ignores frames for other addresses while waiting', async () => {
    pair.device.onData(() => {
      void (async () => {
        await pair.device.write(pelcoD.panPositionReply(9, 1));
        await pair.device.write(pelcoD.panPositionReply(1, 2));
      })();
    });
    expect(await new PelcoDMotor(bus, 1, { tilt: false }).queryPosition()).toEqual({ pan: 2, tilt: 0 });
  });

  it('rejects everything once closed', async () => {
    bus.close();
    await expect(new PelcoDMotor(bus, 1).stop()).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('refuses speeds outside the Pelco-D range without sending anything', async () => {
    await expect(new PelcoDMotor(bus, 1).move(64, 0)).rejects.toThrow(RangeError);
    expect(timeline.size).toBe(0);
  });
});
