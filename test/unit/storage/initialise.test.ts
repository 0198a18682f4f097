import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogging } from '../../../src/core/log.js';
import { initialState, StateStore, type ChildHealth } from '../../../src/state/store.js';
import { initialiseCard } from '../../../src/storage/initialise.js';
import { OnceRunner } from '../../../src/supervisor/runner.js';
import type { Context } from '../../../src/supervisor/service.js';

/** The card format of a board with `system.formatCard`: a one-shot child of the process runner. */
describe('initialiseCard with a format command', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  function setup(formatCard: string[]) {
    const root = mkdtempSync(join(tmpdir(), 'camd-format-'));
    dirs.push(root);
    const cardMount = join(root, 'card');
    const dataDir = join(root, 'data');
    mkdirSync(cardMount);
    mkdirSync(dataDir);
    const state = new StateStore(initialState(1, 'x', 0));
    const seen: ChildHealth[] = [];
    state.subscribe((s) => seen.push(...Object.values(s.children)));
    // Only what initialiseCard reads.
    const ctx = {
      paths: { cardMount, dataDir, runDir: root, socket: join(root, 's') },
      board: { system: { formatCard }, storage: { cardDevice: '/dev/mmcblk1p1' } },
      clock: systemClock,
      state,
    } as unknown as Context;
    const procs = new OnceRunner({ clock: systemClock, log: silentLogging().forComponent('storage'), state });
    return { ctx, procs, cardMount, seen, state };
  }

  it('runs the argv with {device} and {mount} filled in, listed in state.children while it runs, then writes the marker', async () => {
    const { ctx, procs, cardMount, seen, state } = setup(['sh', '-c', 'echo "$1" > "$2/formatted"', 'format', '{device}', '{mount}']);
    const marker = await initialiseCard(ctx, procs);
    expect(readFileSync(join(cardMount, 'formatted'), 'utf8')).toBe('/dev/mmcblk1p1\n');
    expect(JSON.parse(readFileSync(join(cardMount, '.camd-card'), 'utf8'))).toEqual(marker);
    expect(seen).toContainEqual(expect.objectContaining({ name: 'format-card', kind: 'once', status: 'running' }));
    expect(state.get().children).toEqual({});
  });

  it('a failing format throws with its last words and writes no marker', async () => {
    const { ctx, procs, cardMount } = setup(['sh', '-c', 'echo "mkfs.vfat: unable to open {device}" >&2; exit 1']);
    await expect(initialiseCard(ctx, procs)).rejects.toThrow('format-card failed: mkfs.vfat: unable to open /dev/mmcblk1p1');
    expect(existsSync(join(cardMount, '.camd-card'))).toBe(false);
    const missing = setup(['camd-no-such-formatter', '{device}']);
    await expect(initialiseCard(missing.ctx, missing.procs)).rejects.toThrow('format-card failed: cannot run camd-no-such-formatter: no such program (ENOENT)');
  });
});
