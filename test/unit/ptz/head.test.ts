import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AxisPosition } from '../../../drivers/devices/types.js';
import { systemClock } from '../../../src/core/clock.js';
import { CamdError } from '../../../src/core/errors.js';
import { silentLogging } from '../../../src/core/log.js';
import type { GotoResult } from '../../../src/ptz/controller.js';
import { HEAD_PRIORITY, HeadArbiter, type HeadHolder, type HeadMotor } from '../../../src/ptz/head.js';
import { axisLimits } from '../../../src/ptz/limits.js';
import { runSweep, sweepPositions } from '../../../src/ptz/sweep.js';

const log = silentLogging().forComponent('ptz');

/** A motor that records every call and arrives at once. */
class FakeMotor implements HeadMotor {
  readonly calls: string[] = [];
  pos: AxisPosition = { pan: 33, tilt: 4 };
  readonly limits = {
    pan: axisLimits({ minDeg: 0, maxDeg: 355, homeDeg: 0, maxSpeedDegS: 90, stepDeg: 0.01 }),
    tilt: axisLimits({ minDeg: -30, maxDeg: 31, homeDeg: 0, maxSpeedDegS: 45, stepDeg: 0.01 }),
  };
  position(): AxisPosition {
    return { ...this.pos };
  }
  moving(): boolean {
    return false;
  }
  motion(): ReturnType<HeadMotor['motion']> {
    const still = { origin: 0, t0: 0, velocity: 0, min: 0, max: 0 };
    return { pan: still, tilt: still };
  }
  async query(): Promise<AxisPosition> {
    this.calls.push('query');
    return this.position();
  }
  async move(): Promise<{ limited: ('pan' | 'tilt')[] }> {
    this.calls.push('move');
    return { limited: [] };
  }
  async drive(): Promise<void> {
    this.calls.push('drive');
  }
  async stop(): Promise<AxisPosition> {
    this.calls.push('stop');
    return this.position();
  }
  async goto(t: { pan?: number; tilt?: number }): Promise<GotoResult> {
    this.calls.push(`goto ${t.pan ?? '-'}`);
    this.pos = { pan: t.pan ?? this.pos.pan, tilt: t.tilt ?? this.pos.tilt };
    return { arrived: true, position: this.position() };
  }
  async home(): Promise<GotoResult & { from: AxisPosition }> {
    const from = this.position();
    return { ...(await this.goto({ pan: 0, tilt: 0 })), from };
  }
}

function rig() {
  const motor = new FakeMotor();
  const changes: (HeadHolder | null)[] = [];
  const arbiter = new HeadArbiter({ motor, clock: systemClock, log, onChange: (h) => changes.push(h) });
  return { motor, arbiter, changes };
}

function busyOf(fn: () => unknown): CamdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CamdError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('head arbiter', () => {
  it('states one priority order: homing > manual > sweep > hold > follow > patrol', () => {
    const order = Object.entries(HEAD_PRIORITY).sort((a, b) => b[1] - a[1]).map(([k]) => k);
    expect(order).toEqual(['homing', 'manual', 'sweep', 'hold', 'follow', 'patrol']);
  });

  it('grants a free head and publishes the holder with its priority and time', () => {
    const { arbiter, changes } = rig();
    expect(arbiter.holder).toBeNull();
    const lease = arbiter.acquire({ owner: 'patrol', why: 'preset gate' });
    expect(lease.active).toBe(true);
    expect(arbiter.holder).toEqual({ owner: 'patrol', priority: 10, since: 1_700_000_000_000, why: 'preset gate' });
    expect(changes).toEqual([arbiter.holder]);
  });

  it('a higher owner preempts: the holder is told who took it and its lease stops driving', async () => {
    const { arbiter, motor } = rig();
    const told: HeadHolder[] = [];
    const patrol = arbiter.acquire({ owner: 'patrol', onPreempt: (by) => told.push(by) });
    await patrol.motor.goto({ pan: 90 });
    const follow = arbiter.acquire({ owner: 'follow', why: 'episode p1' });
    expect(told).toEqual([expect.objectContaining({ owner: 'follow', why: 'episode p1' })]);
    expect(patrol.active).toBe(false);
    expect(patrol.signal.aborted).toBe(true);
    // Reads still work; every motion through the old lease is refused, naming the new holder.
    expect(patrol.motor.position()).toEqual({ pan: 90, tilt: 4 });
    for (const m of [() => patrol.motor.goto({ pan: 1 }), () => patrol.motor.move(1, 0, 1000), () => patrol.motor.drive(1, 0, 1000), () => patrol.motor.stop(), () => patrol.motor.home()]) {
      expect(busyOf(m)).toMatchObject({ code: 'busy', message: expect.stringContaining('follow-target (episode p1) has it') });
    }
    expect(motor.calls).toEqual(['goto 90']);
    // Releasing the preempted lease leaves the new holder alone.
    patrol.release();
    expect(arbiter.holder?.owner).toBe('follow');
    expect(follow.active).toBe(true);
  });

  it('a lower owner asking while a higher one holds the head is refused with busy naming the holder', () => {
    const { arbiter } = rig();
    arbiter.acquire({ owner: 'manual', why: 'ptz.goto' });
    for (const owner of ['sweep', 'hold', 'follow', 'patrol'] as const) {
      expect(arbiter.wouldGrant(owner)).toBe(false);
      const err = busyOf(() => arbiter.acquire({ owner }));
      expect(err.code).toBe('busy');
      expect(err.message).toMatch(/in use by manual control \(ptz\.goto\) since 2023-11-14T22:13:20\.000Z/);
    }
    expect(arbiter.holder?.owner).toBe('manual');
  });

  it('the sweep beats follow and the hold, and yields to a manual command', () => {
    const { arbiter } = rig();
    const hold = arbiter.acquire({ owner: 'hold' });
    const sweep = arbiter.acquire({ owner: 'sweep', why: 'view360' });
    expect(hold.active).toBe(false);
    for (const owner of ['hold', 'follow', 'patrol'] as const) expect(busyOf(() => arbiter.acquire({ owner })).message).toContain('the 360° sweep (view360)');
    expect(sweep.active).toBe(true);
    arbiter.acquire({ owner: 'manual', why: 'ptz.stop' });
    expect(sweep.active).toBe(false);
  });

  it('homing is exclusive: it takes the head from anyone, and nobody, not even a manual command, takes it from homing', () => {
    const { arbiter } = rig();
    const manual = arbiter.acquire({ owner: 'manual', why: 'ptz.move' });
    const homing = arbiter.acquire({ owner: 'homing', why: 'boot' });
    expect(manual.active).toBe(false);
    expect(busyOf(() => arbiter.acquire({ owner: 'manual' })).message).toContain('in use by homing (boot)');
    homing.release();
    expect(arbiter.acquire({ owner: 'manual' }).active).toBe(true);
  });

  it('the same owner asking again supersedes its own older lease (newest manual command wins)', () => {
    const { arbiter } = rig();
    const told: string[] = [];
    const first = arbiter.acquire({ owner: 'manual', why: 'ptz.goto', onPreempt: (by) => told.push(by.why ?? '') });
    const second = arbiter.acquire({ owner: 'manual', why: 'ptz.look' });
    expect(first.active).toBe(false);
    expect(second.active).toBe(true);
    expect(told).toEqual(['ptz.look']);
  });

  it('release frees the head once (idempotent) and says so', () => {
    const { arbiter, changes } = rig();
    const lease = arbiter.acquire({ owner: 'follow' });
    lease.release();
    lease.release();
    expect(arbiter.holder).toBeNull();
    expect(changes.map((h) => h?.owner ?? null)).toEqual(['follow', null]);
    expect(busyOf(() => lease.motor.goto({ pan: 1 })).code).toBe('busy');
    expect(arbiter.acquire({ owner: 'patrol' }).active).toBe(true);
  });

  it('a mover that crashes releases its lease; a preempted mover that throws while stopping does not keep the head', async () => {
    const { arbiter } = rig();
    await expect(
      arbiter.run({ owner: 'sweep' }, async (l) => {
        await l.motor.goto({ pan: 10 });
        throw new Error('ffmpeg died');
      }),
    ).rejects.toThrow('ffmpeg died');
    expect(arbiter.holder).toBeNull();
    arbiter.acquire({
      owner: 'patrol',
      onPreempt: () => {
        throw new Error('bug in the mover');
      },
    });
    const manual = arbiter.acquire({ owner: 'manual' });
    expect(manual.active).toBe(true);
    expect(arbiter.holder?.owner).toBe('manual');
  });

  it('dispose ends every lease (service stop)', () => {
    const { arbiter } = rig();
    const lease = arbiter.acquire({ owner: 'patrol' });
    arbiter.dispose();
    expect(lease.active).toBe(false);
    expect(arbiter.holder).toBeNull();
  });
});

describe('360° sweep under the arbiter', () => {
  it('spreads the shots over the range, shoots each after arrival, returns to the start pan, then frees the head', async () => {
    const { arbiter, motor } = rig();
    expect(sweepPositions(0, 355, 3)).toEqual([0, 120, 240]);
    const shots: [number, number][] = [];
    const seen: (string | undefined)[] = [];
    const r = await runSweep(arbiter, log, 3, async (i, at) => {
      shots.push([i, at]);
      seen.push(arbiter.holder?.owner);
    });
    expect(r.positions).toEqual([0, 120, 240]);
    expect(shots).toEqual([
      [0, 0],
      [1, 120],
      [2, 240],
    ]);
    expect(seen).toEqual(['sweep', 'sweep', 'sweep']);
    expect(motor.calls).toEqual(['query', 'goto 0', 'goto 120', 'goto 240', 'goto 33']);
    expect(arbiter.holder).toBeNull();
  });

  it('is refused while a manual command holds the head', async () => {
    const { arbiter, motor } = rig();
    arbiter.acquire({ owner: 'manual', why: 'ptz.move' });
    await expect(runSweep(arbiter, log, 3, async () => undefined)).rejects.toMatchObject({ code: 'busy', message: expect.stringContaining('manual control (ptz.move)') });
    expect(motor.calls).toEqual([]);
  });

  it('preempted by a manual command: no further shot, no way back (the head is the new owner’s), busy naming who took it', async () => {
    const { arbiter, motor } = rig();
    const shots: number[] = [];
    const p = runSweep(arbiter, log, 4, async (i) => {
      shots.push(i);
      // A user command arrives while the picture at the second position is being taken.
      if (i === 1) arbiter.acquire({ owner: 'manual', why: 'ptz.goto' });
    });
    await expect(p).rejects.toMatchObject({ code: 'busy', message: 'the 360° view was interrupted: manual control (ptz.goto) took the PTZ head' });
    expect(shots).toEqual([0, 1]);
    expect(motor.calls).toEqual(['query', 'goto 0', 'goto 90']);
    expect(arbiter.holder?.owner).toBe('manual');
  });
});
