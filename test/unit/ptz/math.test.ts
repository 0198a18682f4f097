import { describe, expect, it } from 'vitest';
import { fitCalibration, fitLine, lookAngles } from '../../../src/ptz/calibration.js';
import { axisLimits, checkSoft, speedByteFromDegS, speedByteFromPercent } from '../../../src/ptz/limits.js';
import { AxisModel, positionAt, restTime, timeAt } from '../../../src/ptz/motion-model.js';
import { findPreset, removePreset, upsertPreset, MAX_PRESETS } from '../../../src/ptz/presets.js';
import { aimPoint, FOLLOW_STEERING, steer } from '../../../src/ptz/steering.js';
import { CamdError } from '../../../src/core/errors.js';

const pan = axisLimits({ minDeg: 0, maxDeg: 355, maxSpeedDegS: 90, stepDeg: 0.01, homeDeg: 0 });

describe('soft limits and speeds', () => {
  it('soft range is the end stops minus a margin, with a precise error outside it', () => {
    expect([pan.min, pan.max]).toEqual([1, 354]);
    expect(() => checkSoft(354, pan, 'pan')).not.toThrow();
    let err: unknown;
    try {
      checkSoft(354.5, pan, 'pan');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CamdError);
    expect((err as CamdError).toBody()).toMatchObject({ code: 'invalid_args', path: 'pan', message: expect.stringContaining('outside the soft limits 1..354') });
  });

  it('maps speeds to Pelco-D bytes', () => {
    expect(speedByteFromPercent(100)).toBe(63);
    expect(speedByteFromPercent(1)).toBe(1);
    expect(speedByteFromPercent(50)).toBe(32);
    expect(speedByteFromDegS(-90, pan)).toBe(-63);
    expect(speedByteFromDegS(500, pan)).toBe(63);
    expect(speedByteFromDegS(0.5, pan)).toBe(0);
  });
});

describe('motion model', () => {
  it('a continuous move runs at its speed and stops at the end stop', () => {
    const m = new AxisModel(0, 355, 100, 0);
    m.run(1000, 90);
    expect(m.at(2000)).toBeCloseTo(190, 9);
    expect(m.at(100_000)).toBe(355);
    expect(restTime(m.motion)).toBeCloseTo(1000 + (255 / 90) * 1000, 6);
    expect(timeAt(m.motion, 145)).toBeCloseTo(1500, 6);
    expect(timeAt(m.motion, 50)).toBeUndefined();
  });

  it('a goto stops on its target; a query corrects the origin and finishes a reached goto', () => {
    const m = new AxisModel(0, 355, 10, 0);
    m.goto(0, 100, 90);
    expect(m.at(500)).toBeCloseTo(55, 9);
    expect(m.at(5000)).toBe(100);
    // The controller is a little behind the model: the model follows the reply.
    expect(m.correct(500, 50)).toBeCloseTo(-5, 9);
    expect(m.at(500)).toBe(50);
    expect(m.moving(500)).toBe(true);
    expect(m.correct(2000, 100)).toBe(0);
    expect(m.moving(2000)).toBe(false);
    expect(positionAt({ ...m.motion }, 99_999)).toBe(100);
  });
});

describe('tap-to-look calibration', () => {
  const cal = { panAtLeft: 120, panAtRight: 240, tiltAtTop: 30, tiltAtBottom: -5 };

  it('maps image points linearly and shifts pan by the wide lens pan', () => {
    expect(lookAngles(cal, 0.5, 0.5, 170, 170)).toEqual({ pan: 180, tilt: 12.5 });
    expect(lookAngles(cal, 0, 1, 180, 170)).toEqual({ pan: 130, tilt: -5 });
    expect(lookAngles({ ...cal, widePanDeg: 150 }, 1, 0, 150, 170)).toEqual({ pan: 240, tilt: 30 });
  });

  it('least squares recovers the model from pairs taken at different wide pans', () => {
    const truth = { panAtLeft: 100, panAtRight: 220, tiltAtTop: 40, tiltAtBottom: -10, widePanDeg: 170 };
    const pts = [
      [0.1, 0.2, 170],
      [0.9, 0.8, 170],
      [0.5, 0.5, 190],
      [0.3, 0.9, 160],
    ].map(([x, y, w]) => ({ x: x!, y: y!, widePan: w!, ...lookAngles(truth, x!, y!, w!, 170) }));
    const fit = fitCalibration(pts);
    expect(fit.pan).toMatchObject({ fitted: true, rmsDeg: 0 });
    expect(fit.tilt).toMatchObject({ fitted: true, rmsDeg: 0 });
    // Reference = the first pair's wide pan; predictions match the truth anywhere.
    const model = { panAtLeft: 0, panAtRight: 0, tiltAtTop: 0, tiltAtBottom: 0, ...fit.patch };
    for (const [x, y, w] of [[0, 0, 170], [1, 1, 200], [0.7, 0.1, 140]] as const) {
      const a = lookAngles(model, x, y, w, 999);
      const b = lookAngles(truth, x, y, w, 170);
      expect(a.pan).toBeCloseTo(b.pan, 2);
      expect(a.tilt).toBeCloseTo(b.tilt, 2);
    }
  });

  it('does not fit an axis the pairs do not determine', () => {
    const fit = fitCalibration([
      { x: 0.1, y: 0.5, widePan: 170, pan: 130, tilt: 10 },
      { x: 0.9, y: 0.55, widePan: 170, pan: 210, tilt: 9 },
    ]);
    expect(fit.pan.fitted).toBe(true);
    expect(fit.tilt.fitted).toBe(false);
    expect(Object.keys(fit.patch).sort()).toEqual(['panAtLeft', 'panAtRight', 'widePanDeg']);
    expect(fitLine([{ u: 0.5, v: 1 }], 0.2)).toBeUndefined();
  });
});

describe('follow steering', () => {
  it('accelerates gradually, caps the speed, slows as it closes in and stops in the deadband', () => {
    let v = 0;
    const speeds: number[] = [];
    for (let i = 0; i < 10; i++) {
      v = steer(60, v, 200, FOLLOW_STEERING);
      speeds.push(v);
    }
    expect(speeds[0]).toBeCloseTo(12, 9); // 60 deg/s² × 0.2 s
    expect(Math.max(...speeds)).toBe(FOLLOW_STEERING.maxSpeed);
    expect(steer(0.3, 5, 200, FOLLOW_STEERING)).toBe(0);
    expect(steer(-10, 0, 200, FOLLOW_STEERING)).toBeLessThan(0);
    // Proportional on the way in: 1.5°/s per degree.
    expect(steer(4, 6, 200, FOLLOW_STEERING)).toBeCloseTo(6, 9);
  });

  it('brakes at the acceleration limit, never by stopping dead, and closes on a target it is simulated against', () => {
    // A target 1° ahead of a head at full speed: 12°/s less per 200 ms tick, not a jump to 5°/s.
    expect(steer(1, 30, 200, FOLLOW_STEERING)).toBeCloseTo(18, 9);
    expect(steer(-1, 30, 200, FOLLOW_STEERING)).toBeCloseTo(18, 9);
    // Integrated over ticks: bounded speed and acceleration, settles inside the deadband, little overshoot.
    let pos = 0;
    let v = 0;
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      const next = steer(40 - pos, v, 200, FOLLOW_STEERING);
      expect(Math.abs(next)).toBeLessThanOrEqual(FOLLOW_STEERING.maxSpeed);
      expect(Math.abs(next - v)).toBeLessThanOrEqual(12 + 1e-9);
      v = next;
      pos += v * 0.2;
      peak = Math.max(peak, pos);
    }
    expect(Math.abs(40 - pos)).toBeLessThan(FOLLOW_STEERING.deadband);
    expect(v).toBe(0);
    expect(peak).toBeLessThan(40 + FOLLOW_STEERING.deadband);
  });

  it('dead band with hysteresis: at rest it starts only at startBand, moving it runs down to the deadband', () => {
    const { deadband, startBand } = FOLLOW_STEERING;
    expect(startBand).toBeGreaterThan(deadband);
    expect(steer(startBand - 0.1, 0, 200, FOLLOW_STEERING)).toBe(0);
    expect(steer(-(startBand - 0.1), 0, 200, FOLLOW_STEERING)).toBe(0);
    expect(steer(startBand, 0, 200, FOLLOW_STEERING)).toBeGreaterThan(0);
    expect(steer(startBand - 0.1, 2, 200, FOLLOW_STEERING)).toBeGreaterThan(0);
    expect(steer(deadband - 0.01, 2, 200, FOLLOW_STEERING)).toBe(0);
  });

  it('aims at the chest of the box', () => {
    expect(aimPoint([0.2, 0.3, 0.2, 0.6])).toEqual({ x: 0.30000000000000004, y: 0.5 });
  });
});

describe('presets', () => {
  it('save replaces in place, keeps the dwell, refuses a 33rd; delete and goto need the name', () => {
    let list = upsertPreset([], { name: 'gate', pan: 10, tilt: 0, dwellSeconds: 30 });
    list = upsertPreset(list, { name: 'door', pan: 20, tilt: 5 });
    list = upsertPreset(list, { name: 'gate', pan: 11, tilt: 1 });
    expect(list).toEqual([
      { name: 'gate', pan: 11, tilt: 1, dwellSeconds: 30 },
      { name: 'door', pan: 20, tilt: 5 },
    ]);
    expect(() => findPreset(list, 'nope')).toThrow(/no preset named "nope"/);
    expect(removePreset(list, 'gate')).toEqual([{ name: 'door', pan: 20, tilt: 5 }]);
    const full = Array.from({ length: MAX_PRESETS }, (_, i) => ({ name: `p${i}`, pan: i, tilt: 0 }));
    expect(() => upsertPreset(full, { name: 'one-more', pan: 0, tilt: 0 })).toThrow(/at most 32/);
  });
});
