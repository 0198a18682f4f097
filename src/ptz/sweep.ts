import type { Logger } from 'pino';
import { CamdError } from '../core/errors.js';
import { describeHolder, type HeadArbiter, type HeadHolder } from './head.js';
import type { SweepShot } from './types.js';

/** Pan positions for `shots` pictures spread over the PTZ lens's range (wrapping at 360°). */
export function sweepPositions(minDeg: number, maxDeg: number, shots: number): number[] {
  const span = maxDeg - minDeg;
  const step = span >= 360 - 360 / shots ? 360 / shots : span / Math.max(1, shots - 1);
  return Array.from({ length: shots }, (_, i) => Math.min(maxDeg, minDeg + i * step));
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

/**
 * The motor half of the 360° view (capture takes and stitches the pictures): under a `sweep`
 * lease, turn the PTZ lens to each position over its whole pan range (end stops included: like
 * home, these are positions the head reaches by construction), have `shoot` take the picture
 * once arrival is verified by query, then turn the lens back to the pan it had.
 *
 * Preempted (a manual command): it stops at once — no further shot, and no way back, since the
 * head is the new owner's — and answers `busy` naming who took it.
 */
export async function runSweep(arbiter: HeadArbiter, log: Logger, shots: number, shoot: SweepShot): Promise<{ positions: number[] }> {
  let by: HeadHolder | undefined;
  return arbiter.run({ owner: 'sweep', why: `view360, ${shots} shots`, onPreempt: (h) => (by = h) }, async (lease) => {
    const interrupted = (): CamdError => new CamdError('busy', `the 360° view was interrupted: ${by ? describeHolder(by) : 'another mover'} took the PTZ head`);
    const m = lease.motor;
    // Taken from a continuous move or follow steering: stop first, or the tilt axis (the sweep turns pan only) would keep running.
    const from = (m.moving() ? await m.stop() : await m.query()).pan;
    const positions: number[] = [];
    try {
      for (const [i, target] of sweepPositions(m.limits.pan.hardMin, m.limits.pan.hardMax, shots).entries()) {
        const r = await m.goto({ pan: target });
        if (!lease.active || !r.arrived) throw interrupted();
        const at = r2(r.position.pan);
        positions.push(at);
        await shoot(i, at);
        if (!lease.active) throw interrupted();
      }
      return { positions };
    } catch (err) {
      // A goto refused by a lease that ended is the same interruption, said plainly.
      throw lease.active ? err : interrupted();
    } finally {
      // Best effort, and only while the head is still ours: the pictures (or the first error) matter more than the way back.
      if (lease.active) await m.goto({ pan: from }).catch((err: unknown) => log.warn({ err: String(err) }, '360° sweep: return to the start pan failed'));
    }
  });
}
