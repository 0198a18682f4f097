import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProc } from '../harness/daemon.js';
import { pause, waitUntil } from '../harness/wait.js';
import { childrenOf, figures, kill9 } from './fault-kit.js';

/**
 * The capture children (real ffmpeg on the real footage) killed with SIGKILL again and again
 * under a real daemon process: every time the lens comes back (new pid, frames again) after the
 * documented capped exponential backoff (0.5 s doubling to 30 s); `state.children` counts each
 * restart; the camera fault raised after five failures in a row clears once a run is stable; no
 * zombie is left; the other lens is untouched; and nothing restarts once the killing stops.
 */
const KILLS = Math.max(3, Number(process.env.CAMD_FFMPEG_KILLS) || 9);
const BACKOFF = { baseMs: 500, maxMs: 30_000 };
const FAIL_AFTER = 5;

interface Child {
  status: string;
  pid?: number;
  restarts: number;
  lastExit?: { signal: string | null; at: number };
}
interface Status {
  children: Record<string, Child>;
  capture?: Record<string, { status: string; tap: { frames: number } }>;
  faults: Record<string, { kind: string; message: string }>;
}

let d: DaemonProc | undefined;
afterAll(async () => {
  if (d) {
    await kill9(d);
    rmSync(d.dir, { recursive: true, force: true });
  }
});

async function status(): Promise<Status> {
  const r = await d!.call('status');
  if (!r.ok) throw new Error(`status failed: ${JSON.stringify(r.error)}`);
  return r.result as Status;
}

/** The runner's own account of each restart, from the daemon's log (pino JSON lines). */
function restartLog(): { retryInMs: number; attempt: number }[] {
  return d!
    .output()
    .split('\n')
    .filter((l) => l.includes('"child exited; will restart"') && l.includes('"capture.wide"'))
    .map((l) => JSON.parse(l) as { retryInMs: number; attempt: number });
}

describe('ffmpeg killed repeatedly', () => {
  it('recovers every time with capped backoff, counts restarts, leaves no zombie and stops restarting', async () => {
    d = await startDaemon();
    const daemonPid = d.proc.pid!;
    const running = (s: Status, lens: string): boolean => s.children[`capture.${lens}`]?.status === 'running' && !!s.children[`capture.${lens}`]?.pid;
    const first = await waitUntil(async () => {
      const s = await status();
      return running(s, 'wide') && running(s, 'ptz') && (s.capture?.wide?.tap.frames ?? 0) > 3 ? s : undefined;
    }, 'both lenses capturing', 20_000);
    const ptzPid = first.children['capture.ptz']!.pid!;

    const recoveryMs: number[] = [];
    const zombiesSeen: number[] = [];
    let sawFailed = false;
    let sawFault = false;
    for (let k = 0; k < KILLS; k++) {
      const before = await status();
      const pid = before.children['capture.wide']!.pid!;
      process.kill(pid, 'SIGKILL');
      const killedAt = Date.now();
      // The runner saw the exit: one more restart counted, the lens waits out its backoff.
      const down = await waitUntil(async () => {
        const s = await status();
        return s.children['capture.wide']!.restarts === k + 1 ? s : undefined;
      }, `restart ${k + 1} counted`);
      expect(down.children['capture.wide']!.lastExit?.signal).toBe('SIGKILL');
      sawFailed ||= ['failed'].includes(down.children['capture.wide']!.status);
      sawFault ||= !!down.faults['capture.wide'];
      const framesAtExit = down.capture?.wide?.tap.frames ?? 0;
      // Back: a new ffmpeg, frames flowing again (the backoff may be 30 s by now).
      const up = await waitUntil(async () => {
        const s = await status();
        const c = s.children['capture.wide']!;
        sawFailed ||= c.status === 'failed';
        sawFault ||= !!s.faults['capture.wide'];
        return c.status === 'running' && c.pid !== pid && (s.capture?.wide?.tap.frames ?? 0) >= framesAtExit + 3 ? s : undefined;
      }, `capture.wide back after kill ${k + 1}`, Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** k) + 10_000, 100);
      recoveryMs.push(Date.now() - killedAt);
      expect(up.children['capture.ptz']!.pid).toBe(ptzPid);
      zombiesSeen.push(childrenOf(daemonPid).filter((p) => p.state === 'Z').length);
    }

    // The backoff the runner used, as it logged it: doubling from 0.5 s, capped at 30 s (a run
    // that lasted 30 s would start it over; none of these did).
    const delays = restartLog().map((l) => l.retryInMs);
    expect(delays).toHaveLength(KILLS);
    delays.forEach((ms, i) => expect(ms).toBe(Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** i)));
    // Five failures in a row made it a camera fault (status `failed`), as documented.
    if (KILLS >= FAIL_AFTER) {
      expect(sawFailed).toBe(true);
      expect(sawFault).toBe(true);
    }
    // A run that lasts stableAfter (30 s) with frames makes it healthy again: the fault clears.
    const healed = Date.now();
    await waitUntil(async () => {
      const s = await status();
      return running(s, 'wide') && !s.faults['capture.wide'] ? s : undefined;
    }, 'the capture.wide fault cleared after a stable run', 40_000, 250);
    const healMs = Date.now() - healed;

    // Nothing restarts once the killing stops (a quiet window, not a speed assumption).
    const settled = await status();
    await pause(10_000);
    const later = await status();
    expect(later.children['capture.wide']!.restarts).toBe(KILLS);
    expect(later.children['capture.wide']!.pid).toBe(settled.children['capture.wide']!.pid);
    expect(later.children['capture.ptz']).toMatchObject({ pid: ptzPid, restarts: 0 });
    // No zombie, and exactly the two capture children are ffmpeg processes of the daemon.
    const kids = childrenOf(daemonPid);
    expect(kids.filter((p) => p.state === 'Z')).toEqual([]);
    expect(kids.filter((p) => p.comm === 'ffmpeg').map((p) => p.pid).sort()).toEqual([later.children['capture.wide']!.pid, ptzPid].sort());
    expect(zombiesSeen.every((n) => n === 0)).toBe(true);

    figures('ffmpeg-kill', {
      kills: KILLS,
      restartsCounted: later.children['capture.wide']!.restarts,
      backoffMs: delays,
      recoverySeconds: recoveryMs.map((ms) => Math.round(ms / 100) / 10),
      failedAfter: FAIL_AFTER,
      faultRaised: sawFault,
      faultClearedAfterSeconds: Math.round(healMs / 100) / 10,
      zombies: 0,
      otherLensRestarts: later.children['capture.ptz']!.restarts,
    });
  });
});
