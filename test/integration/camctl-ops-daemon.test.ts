import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runIdentity } from '../../src/cli/ops/identity.js';
import { jpegSize } from '../../src/cli/ops/jpeg.js';
import { runSnapshot } from '../../src/cli/ops/snapshot.js';
import { runStorageInitialise } from '../../src/cli/ops/storage.js';
import { runView360 } from '../../src/cli/ops/view360.js';
import { startDaemon, waitFor, type DaemonProc } from '../harness/daemon.js';
import { PROCESS_TIMEOUTS } from '../harness/wait.js';
import { fakeIo } from '../unit/cli/ops/fake-io.js';
import { decodeTerminalQr } from '../unit/cli/ops/qr-decode.js';

// One real daemon on the sim board for the whole file (each test builds on the card state before it).
vi.setConfig(PROCESS_TIMEOUTS);

type Obj = Record<string, unknown>;

describe('camctl operations against a real sim daemon', () => {
  let d: DaemonProc;
  const storage = async (): Promise<Obj> => ((await d.call('status')) as { result: { storage?: Obj } }).result.storage ?? {};

  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    if (d?.proc.exitCode === null) {
      d.proc.kill('SIGTERM');
      await d.exited;
    }
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('snapshot: refuses a terminal without -o before asking the daemon; writes the inline JPEG atomically and says what it wrote', async () => {
    const tty = fakeIo({ outTty: true });
    expect(await runSnapshot(d.socket, { lens: 'wide', json: false, io: tty })).toBe(2);
    expect(tty.errText()).toMatch(/give -o FILE\.jpg/);
    expect(tty.bytes().length).toBe(0);
    expect(await runSnapshot(d.socket, { lens: 'wide', out: '-', json: false, io: fakeIo({ outTty: true }) })).toBe(2);

    const file = join(d.dir, 'wide.jpg');
    // The lens needs a moment after boot for its first picture.
    let io = fakeIo();
    await waitFor(async () => (await runSnapshot(d.socket, { lens: 'wide', out: file, json: false, io: (io = fakeIo()) })) === 0, 20_000, 500);
    const jpeg = readFileSync(file);
    const size = jpegSize(jpeg)!;
    expect(size.width).toBeGreaterThan(0);
    expect(io.text()).toBe(`wrote ${file} (${(jpeg.length / 1000).toFixed(1)} KB, ${size.width}x${size.height}, wide)\n`);
    // No temp file left beside it.
    expect(readdirSync(d.dir).filter((n) => n.includes('.tmp'))).toEqual([]);

    // -o - (not a terminal): the raw bytes on stdout, nothing else.
    const raw = fakeIo();
    expect(await runSnapshot(d.socket, { lens: 'ptz', out: '-', json: false, io: raw })).toBe(0);
    expect([...raw.bytes().subarray(0, 2)]).toEqual([0xff, 0xd8]);
    expect(raw.bytes().toString('latin1')).not.toMatch(/^[A-Za-z0-9+/=]+$/);

    const bad = fakeIo();
    expect(await runSnapshot(d.socket, { lens: 'tele', out: file, json: false, io: bad })).toBe(1);
    expect(bad.errText()).toMatch(/--lens/);
  });

  it('identity: the fields, the payload, and a QR code that decodes back to the payload; --json unchanged', async () => {
    const io = fakeIo();
    expect(await runIdentity(d.socket, { json: false, colour: false, io })).toBe(0);
    const id = ((await d.call('identity')) as { result: { qr: string; serial: string } }).result;
    expect(io.text()).toContain(`serial        ${id.serial}`);
    expect(io.text()).toContain(id.qr);
    const qr = io.text().slice(io.text().indexOf('\n\n') + 2);
    expect(decodeTerminalQr(qr, false)).toBe(id.qr);

    const json = fakeIo();
    expect(await runIdentity(d.socket, { json: true, io: json })).toBe(0);
    const line = JSON.parse(json.text()) as Obj;
    expect(line).toMatchObject({ ok: true, result: id });
    expect(json.text().split('\n')).toHaveLength(2);
  });

  it('logs.follow with a backlog over 1000: invalid_args at path backlog, the message gives the range', async () => {
    const r = await d.call('logs.follow', { backlog: 5000 });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'backlog', message: 'the number of past lines must be a whole number from 0 to 1000' } });
  });

  it('led.get during an LED test reports the red the LED shows, with test as the state', async () => {
    expect(await d.call('led.test', { color: 'red', mode: 'solid', seconds: 30 })).toMatchObject({ ok: true });
    expect(await d.call('led.get')).toMatchObject({ ok: true, result: { state: 'test', color: 'red', mode: 'solid', reason: 'LED test', override: true } });
    expect(await d.call('config.set', { patch: { indicator: { enabled: false } } })).toMatchObject({ ok: true });
    expect(await d.call('led.get')).toMatchObject({ ok: true, result: { state: 'test', color: 'red' } });
    expect(await d.call('config.set', { patch: { indicator: { enabled: true } } })).toMatchObject({ ok: true });
    await d.call('led.test', { color: 'red', mode: 'solid', seconds: 1 });
    // Back to the state (working, or a network exception once the harness's absent broker passes its grace).
    await waitFor(async () => ((await d.call('led.get')) as { result: Obj }).result.state !== 'test', 20_000, 200);
  });

  it('storage initialise: shows the card, refuses without a terminal or --yes, keeps the card on "n", erases on "y" with phases', async () => {
    const card = join(d.dir, 'card');
    mkdirSync(join(card, 'DCIM'), { recursive: true });
    writeFileSync(join(card, 'holiday.jpg'), 'someone else\'s photo');
    writeFileSync(join(card, 'DCIM', 'a.jpg'), Buffer.alloc(2000));
    await waitFor(async () => (await storage()).status === 'not-initialised', 20_000, 200);

    const refused = fakeIo();
    expect(await runStorageInitialise(d.socket, { yes: false, json: false, io: refused })).toBe(1);
    expect(refused.text()).toMatch(/will erase\s+2 files, 2\.0 KB: DCIM, holiday\.jpg/);
    expect(refused.errText()).toMatch(/--yes/);

    const no = fakeIo({ inTty: true, answers: ['n'] });
    expect(await runStorageInitialise(d.socket, { yes: false, json: false, io: no })).toBe(1);
    expect(no.asked).toHaveLength(1);
    expect(no.asked[0]).toContain('Erase the card? [y/N]');
    expect(existsSync(join(card, 'holiday.jpg'))).toBe(true);

    const yes = fakeIo({ inTty: true, answers: ['y'] });
    expect(await runStorageInitialise(d.socket, { yes: false, json: false, io: yes })).toBe(0);
    expect(yes.text()).toMatch(/^card initialised: in-use, .* free of .*, card id [0-9a-f-]{36}$/m);
    expect(existsSync(join(card, 'holiday.jpg'))).toBe(false);
    expect(await storage()).toMatchObject({ status: 'in-use' });
    expect((await storage()).initialise).toBeUndefined();
  });

  it('the confirmation_required error carries the token and what would be erased as fields (the message still quotes it)', async () => {
    const r = await d.call('storage.initialise');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'confirmation_required', path: 'confirm', details: { card: { status: 'in-use', files: expect.any(Number) as number } } });
    expect(r.error.message).toContain(`confirm="${r.error.confirm!}"`);
  });

  it('snapshot with a card in use reads the picture the card keeps', async () => {
    const file = join(d.dir, 'ptz.jpg');
    const io = fakeIo();
    expect(await runSnapshot(d.socket, { lens: 'ptz', out: file, json: false, io })).toBe(0);
    const kept = /also kept on the card: (\S+)/.exec(io.text())![1]!;
    expect(readFileSync(file).equals(readFileSync(join(d.dir, 'card', kept)))).toBe(true);
  });

  it('view360: a line per phase when not a terminal (shot k/n in order, then stitching), and the panorama file', async () => {
    const file = join(d.dir, 'pano.jpg');
    const io = fakeIo();
    expect(await runView360(d.socket, { shots: 4, out: file, json: false, io })).toBe(0);
    const lines = io.text().trim().split('\n');
    const shots = lines.map((l) => /^panorama: shot (\d)\/4 …$/.exec(l)?.[1]).filter((x): x is string => !!x).map(Number);
    expect(shots.length).toBeGreaterThan(0);
    expect(shots).toEqual([...shots].sort());
    expect(lines.at(-1)).toMatch(new RegExp(`^wrote ${file} \\(\\d+\\.\\d KB, \\d+x\\d+, 4 shots, \\d+\\.\\d s\\)$`));
    expect(jpegSize(readFileSync(file))!.width).toBeGreaterThan(0);
    expect(((await d.call('status')) as { result: Obj }).result.view360).toBeUndefined();

    // On a terminal: one line, rewritten with \r and cleared at the end.
    const tty = fakeIo({ outTty: true });
    expect(await runView360(d.socket, { shots: 3, json: false, io: tty })).toBe(0);
    // The first poll may land in shot 2 (shot 1 is short): one of the shots, rewritten in place.
    expect(tty.text()).toMatch(/^\rpanorama: shot [123]\/3 …/);
    expect(tty.text()).not.toMatch(/…\n/);
    expect(tty.text()).toMatch(/\r *\rpanorama of 3 shots \(.*\) kept on the card: \S+\n$/);
  });

  it('sleep mode: the LED goes dark (state sleeping) unless a problem the owner must see holds; never the slow blue of working', async () => {
    expect(await d.call('sleep.set', { on: true })).toMatchObject({ ok: true });
    const led = async (): Promise<Obj> => ((await d.call('led.get')) as { result: Obj }).result;
    await waitFor(async () => (await led()).state !== 'working', 20_000, 200);
    const now = await led();
    const conditions = now.conditions as Obj;
    expect(conditions.sleeping).toBe('sleep mode (privacy): capture stopped');
    // The harness runs without a broker: after its grace the cloud link is a network exception,
    // which outranks sleeping (README priority table); before that the LED is dark.
    if (conditions['network-exception'] === undefined && conditions['camera-exception'] === undefined) expect(now).toMatchObject({ state: 'sleeping', color: 'off', mode: 'off' });
    else expect(now.state).toMatch(/-exception$/);
    expect(await d.call('sleep.set', { on: false })).toMatchObject({ ok: true });
    await waitFor(async () => ((await led()).conditions as Obj).sleeping === undefined, 20_000, 200);
    expect((await led()).state).not.toBe('sleeping');
  });
});
