import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../harness/daemon.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import type { Board } from '../../board/schema.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { captureServices } from '../../src/services.js';
import { ptzService } from '../../src/ptz/service.js';
import type { TapFrame } from '../../src/capture/types.js';
import { copyFrame, SMALL, smallBoard, stillClip, testDir, removeTestDirs } from '../unit/capture/media-fixture.js';
import { PROCESS_TEST_MS, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { confirmed } from '../harness/confirm.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

let booted: BootedSim | undefined;
afterEach(async () => {
  await booted?.dispose();
  booted = undefined;
  removeTestDirs();
});

async function boot(patch?: (b: Board) => Board, config: Record<string, unknown> = {}, withPtz = false) {
  const dir = testDir(config);
  // The 360° view moves the head through the PTZ service's arbiter (ctx.ports.head).
  booted = await bootSim({ dir, board: smallBoard(dir, patch), services: [coreCommands, ...(withPtz ? [ptzService] : []), ...captureServices] });
  const b = booted;
  const exec = (cmd: string, args: Record<string, unknown> = {}) => b.sup.commands.execute(cmd, args, { source: 'cloud' });
  return { b, dir, exec };
}

function dims(file: string): { width: number; height: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'json', file]).toString();
  return (JSON.parse(out) as { streams: { width: number; height: number }[] }).streams[0]!;
}


function psnrOf(a: string, b: string): number {
  const { width, height } = dims(b);
  const res = execFileSync(
    'sh',
    ['-c', `ffmpeg -hide_banner -i "${a}" -i "${b}" -filter_complex "[0:v]scale=${width}:${height},format=yuv420p[x];[1:v]format=yuv420p[y];[x][y]psnr" -f null - 2>&1`],
  ).toString();
  const m = /average:([0-9.]+|inf)/.exec(res);
  return m ? (m[1] === 'inf' ? 99 : Number(m[1])) : 0;
}

describe('snapshots, orientation and the 360° view', () => {
  it('snapshot: full-size JPEG now; inline without a card, kept on the card when one is in use', async () => {
    const { b, dir, exec } = await boot();
    await waitFor(async () => (await exec('snapshot', { lens: 'wide' })).ok, 15_000);
    const r = (await exec('snapshot', { lens: 'wide' })) as { ok: true; result: { jpeg: string; bytes: number; ts: number; path?: string } };
    expect(r.result.path).toBeUndefined();
    const jpg = Buffer.from(r.result.jpeg, 'base64');
    expect(jpg.length).toBe(r.result.bytes);
    expect(jpg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    writeFileSync(join(dir, 'snap.jpg'), jpg);
    expect(dims(join(dir, 'snap.jpg'))).toEqual({ width: SMALL.width, height: SMALL.height });
    expect(Date.now() - r.result.ts).toBeLessThan(3000);
    // Bad input.
    expect(await exec('snapshot', { lens: 'tele' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'lens' } });
    expect(await exec('snapshot', { lens: 'wide', eventId: '../../etc' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'eventId' } });

    // With a card in use: on the card, named after the event it belongs to.
    mkdirSync(join(dir, 'card'));
    await waitFor(() => b.sup.state.get().storage?.status === 'not-initialised', 5000);
    await confirmed(exec, 'storage.initialise');
    await waitFor(async () => (await exec('snapshot', { lens: 'ptz' })).ok, 15_000);
    const k = (await exec('snapshot', { lens: 'ptz', eventId: 'evt-42' })) as { ok: true; result: { path: string; bytes: number; jpeg?: string } };
    expect(k.result.path).toMatch(/^camd\/snapshots\/ptz\/\d{4}-\d{2}-\d{2}\/\d+-evt-42\.jpg$/);
    expect(k.result.jpeg).toBeUndefined();
    expect(readFileSync(join(dir, 'card', k.result.path)).length).toBe(k.result.bytes);
  }, PROCESS_TEST_MS);

  it('orientation flip turns the picture 180° (tap and snapshot), re-encoding the recorded stream', async () => {
    const still = stillClip();
    const { b, dir, exec } = await boot((bd) => ({ ...bd, video: { ...bd.video, wide: { ...bd.video.wide, source: { kind: 'file', path: still, loop: true } } } }));
    const grab = async (): Promise<TapFrame['gray']> => {
      const frames: TapFrame[] = [];
      const off = b.sup.bus.on({ name: 'grab' }, 'capture.frame', (f) => {
        if (f.lens === 'wide') frames.push(copyFrame(f));
      });
      await waitFor(() => frames.length >= 2, 15_000);
      off();
      return frames.at(-1)!.gray;
    };
    const normal = await grab();
    expect(b.sup.state.get().capture?.wide).toMatchObject({ orientation: 'normal', reencode: false });
    const snapNormal = join(dir, 'normal.jpg');
    await waitFor(async () => (await exec('snapshot', { lens: 'wide' })).ok, 10_000);
    writeFileSync(snapNormal, Buffer.from(((await exec('snapshot', { lens: 'wide', inline: true })) as { result: { jpeg: string } }).result.jpeg, 'base64'));

    expect(await exec('config.set', { patch: { lenses: { wide: { orientation: 'flip' } } } })).toMatchObject({ ok: true });
    await waitFor(() => b.sup.state.get().capture?.wide?.reencode === true, 10_000);
    const flippedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    const flipped = await grab();
    const { width: w, height: h } = normal;
    let diffFlip = 0;
    let diffSame = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        diffFlip += Math.abs(flipped.data[y * w + x]! - normal.data[(h - 1 - y) * w + (w - 1 - x)]!);
        diffSame += Math.abs(flipped.data[y * w + x]! - normal.data[y * w + x]!);
      }
    }
    expect(diffFlip / (w * h)).toBeLessThan(4);
    expect(diffSame / (w * h)).toBeGreaterThan(15);
    // The snapshot is turned too.
    await waitFor(async () => {
      const s = (await exec('snapshot', { lens: 'wide', inline: true })) as { ok: boolean; result?: { ts: number } };
      return s.ok && s.result!.ts > flippedAt;
    }, 10_000);
    const snapFlip = join(dir, 'flip.jpg');
    writeFileSync(snapFlip, Buffer.from(((await exec('snapshot', { lens: 'wide', inline: true })) as { result: { jpeg: string } }).result.jpeg, 'base64'));
    const turned = join(dir, 'normal-turned.png');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', snapNormal, '-vf', 'hflip,vflip', turned]);
    expect(psnrOf(snapFlip, turned)).toBeGreaterThan(psnrOf(snapFlip, snapNormal) + 5);
  }, PROCESS_TEST_MS);

  it('360° view: the PTZ lens sweeps its range through the PTZ service and the shots are stitched into one real panorama', async () => {
    const { b, dir, exec } = await boot((bd) => ({ ...bd, ptz: { ...bd.ptz, pan: { ...bd.ptz.pan, maxSpeedDegS: 720 } } }), {}, true);
    await waitFor(() => b.sup.state.get().capture?.ptz?.status === 'running' && b.sup.state.get().ptz?.homed === true, 15_000);
    const ptz = b.sup.hardware.parts.ptz!;
    expect(await exec('ptz.goto', { pan: 33 })).toMatchObject({ ok: true, result: { arrived: true, pan: 33 } });
    const r = (await exec('view360', { shots: 3, inline: true })) as { ok: true; result: { jpeg: string; positions: number[]; shots: number } };
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.result.positions).toEqual([0, 120, 240]);
    const pano = join(dir, 'pano.jpg');
    writeFileSync(pano, Buffer.from(r.result.jpeg, 'base64'));
    // 3 slices of 120° of a world 3x the wide lens's width.
    expect(dims(pano)).toEqual({ width: 3 * SMALL.width, height: SMALL.height });
    // It is the real scene: the wide source stretched round the circle.
    const ref = join(dir, 'ref.png');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', b.board.video.wide.source.kind === 'file' ? b.board.video.wide.source.path : '', '-frames:v', '1', '-vf', `scale=${3 * SMALL.width}:${SMALL.height}`, ref]);
    expect(psnrOf(pano, ref)).toBeGreaterThan(25);
    // The lens is back where it was.
    await waitFor(async () => Math.abs((await ptz.queryPosition()).pan - 33) < 0.5, 5000);
    expect(await exec('view360', { shots: 20 })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'shots' } });
  }, PROCESS_TEST_MS);

  it('360° view during patrol: patrol gives the head up, only the sweep moves it (the twin hears nothing else), then patrol resumes', async () => {
    const fast = (bd: Board): Board => ({ ...bd, ptz: { ...bd.ptz, pan: { ...bd.ptz.pan, maxSpeedDegS: 720 } } });
    const { b, exec } = await boot(fast, {}, true);
    await waitFor(() => b.sup.state.get().capture?.ptz?.status === 'running' && b.sup.state.get().ptz?.homed === true, 15_000);
    await b.sup.config.patch({ ptz: { presets: [{ name: 'a', pan: 90, tilt: 0 }, { name: 'b', pan: 200, tilt: 0 }], patrol: { enabled: true, dwellSeconds: 2 } } }, 'test');
    await waitFor(() => b.sup.state.get().ptz?.mode === 'patrol', 5000);
    const twin = b.sup.hardware.sim!.twins.ptz!;
    // The round is going: it has been to both presets.
    await waitFor(() => new Set(twin.moves.filter((m) => m.kind === 'goto').map((m) => m.target)).size >= 3, 10_000);
    const first = twin.moves.length;
    const sweep = exec('view360', { shots: 3, inline: true });
    await waitFor(() => b.sup.state.get().ptz?.mode === 'sweep', 5000);
    expect(b.sup.state.get().ptz?.head).toMatchObject({ owner: 'sweep', priority: 40 });
    const r = (await sweep) as { ok: boolean; result: { positions: number[] } };
    const during = twin.moves.slice(first);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.result.positions).toEqual([0, 120, 240]);
    // Until it answered, the head heard the sweep alone: its three positions and the way back to
    // where the lens was (patrol may have been on its way to a preset); then patrol's own goto at most.
    const gotos = during.filter((m) => m.kind === 'goto' && m.axis === 'pan').map((m) => m.target);
    expect(gotos.slice(0, 3)).toEqual([0, 120, 240]);
    expect(gotos.length, JSON.stringify(gotos)).toBeGreaterThanOrEqual(4);
    expect(gotos.length, JSON.stringify(gotos)).toBeLessThanOrEqual(5);
    expect(during.filter((m) => m.kind === 'speed')).toEqual([]);
    // Patrol took the head back and goes on.
    await waitFor(() => b.sup.state.get().ptz?.head?.owner === 'patrol', 5000);
    const after = twin.moves.length;
    await waitFor(() => twin.moves.slice(after).some((m) => m.kind === 'goto'), 10_000);
  }, PROCESS_TEST_MS);
});
