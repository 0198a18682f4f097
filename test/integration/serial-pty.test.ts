import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import tty from 'node:tty';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { pelcoD } from '../../drivers/devices/pelco-d.js';
import { PelcoDTwin } from '../../drivers/devices/pelco-d-twin.js';
import { PelcoDBus, PelcoDMotor } from '../../drivers/devices/ptz-motor.js';
import { openSerialPortLink } from '../../drivers/serial/serialport.js';
import { createStreamLink } from '../../drivers/serial/stream.js';
import type { SerialLink } from '../../drivers/serial/types.js';
import { Timeline } from '../../drivers/timeline.js';
import { PROCESS_TIMEOUTS, patience, waitUntil } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The real serialport backend against the Pelco-D twin across a REAL pty pair made by socat:
 * the kernel's tty layer is in the path, so raw mode, 0xFF bytes and chunking are all real.
 */
const hasSocat = spawnSync('socat', ['-V']).status === 0;
const title = hasSocat ? 'serialport backend over a socat pty pair' : 'serialport backend over a socat pty pair (SKIPPED: socat is not installed)';

/** Starts socat and resolves with the two /dev/pts paths once its transfer loop runs. */
function startSocat(): Promise<{ proc: ChildProcess; paths: [string, string] }> {
  return new Promise((resolve, reject) => {
    const proc = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`socat did not start: ${stderr}`)), patience(5000));
    proc.on('error', reject);
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const paths = [...stderr.matchAll(/PTY is (\/dev\/\S+)/g)].map((m) => m[1]!);
      if (paths.length === 2 && /starting data transfer loop/.test(stderr)) {
        clearTimeout(timer);
        resolve({ proc, paths: [paths[0]!, paths[1]!] });
      }
    });
  });
}

/** Polls a condition on real I/O (a few ms on an idle machine), with a generous deadline. */
async function until(cond: () => boolean): Promise<void> {
  await waitUntil(() => cond(), 'the bytes to cross the pty pair', 1_000, 5);
}

describe.skipIf(!hasSocat)(title, () => {
  let socat: ChildProcess | undefined;
  let host: SerialLink;
  let far: SerialLink;
  let bus: PelcoDBus;
  const timeline = new Timeline(systemClock);
  const atFar: number[] = [];
  // The twin's motion runs on a clock the test sets, so a 1.4 s move takes no real time.
  let twinNow = 0;
  const twinClock: Clock = { ...systemClock, now: () => twinNow };
  const twin = new PelcoDTwin({
    address: 1,
    clock: twinClock,
    pan: { minDeg: 0, maxDeg: 355, maxSpeedDegS: 90 },
    tilt: { minDeg: -10, maxDeg: 90, maxSpeedDegS: 45 },
  });

  beforeAll(async () => {
    const started = await startSocat();
    socat = started.proc;
    const [hostPath, farPath] = started.paths;
    host = await openSerialPortLink('rs485', { path: hostPath, baudRate: 9600, rs485: true }, { timeline });
    // The far end through tty streams (libuv polls them) rather than fs streams, whose blocking
    // reads would each hold a thread-pool thread until socat exits.
    far = createStreamLink('rs485-far', { readable: new tty.ReadStream(openSync(farPath, 'r')), writable: new tty.WriteStream(openSync(farPath, 'w')) });
    far.onData((c) => atFar.push(...c));
    twin.attach(far);
    // The board's value is 300 ms (a motor on RS-485); a pty through socat on a busy machine is
    // no motor: 10× that, so only a missing answer times out, never a slow one.
    bus = new PelcoDBus(host, { clock: systemClock, replyTimeoutMs: 3_000 });
  });

  afterAll(async () => {
    bus?.close();
    twin.detach();
    await host?.close();
    await far?.close();
    socat?.kill('SIGTERM');
  });

  it('goes to a position and queries it back, byte-exactly on both ends', async () => {
    const motor = new PelcoDMotor(bus, 1);
    await motor.gotoPan(123.45);
    await motor.gotoTilt(-7.5);
    // Written is not yet received: let both commands reach the twin before its clock moves on.
    await until(() => twin.frames.length === 2);
    twinNow = 10_000;
    expect(await motor.queryPosition()).toEqual({ pan: 123.45, tilt: -7.5 });

    const sent = [...pelcoD.setPanPosition(1, 123.45), ...pelcoD.setTiltPosition(1, -7.5), ...pelcoD.queryPan(1), ...pelcoD.queryTilt(1)];
    expect(atFar).toEqual(sent);
    const rx = timeline.entries({ kind: 'serial' }).flatMap((e) => (e.kind === 'serial' && e.dir === 'rx' ? e.bytes : []));
    expect(rx).toEqual([...pelcoD.panPositionReply(1, 123.45), ...pelcoD.tiltPositionReply(1, -7.5)]);
    const tx = timeline.entries({ kind: 'serial' }).flatMap((e) => (e.kind === 'serial' && e.dir === 'tx' ? e.bytes : []));
    expect(tx).toEqual(sent);
  });

  it('ignores a receiver address nobody answers to and times out', async () => {
    await expect(new PelcoDMotor(bus, 7).queryPosition()).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });
});
