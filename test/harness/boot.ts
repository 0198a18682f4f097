import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadBoard, type Board } from '../../board/schema.js';
import { defaultServices } from '../../src/services.js';
import { mergePatch } from '../../src/config/merge.js';
import type { ServiceFactory } from '../../src/supervisor/service.js';
import { Supervisor, type SupervisorOptions } from '../../src/supervisor/supervisor.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const SIM_BOARD_FILE = join(REPO, 'board/sim.json');
export const MEDIA = resolve(REPO, '../shared/media');

/**
 * Test daemons must never reach a developer's simulator broker on 127.0.0.1:1883 (same client
 * id: the two would take each other's session over). Nothing listens on the discard port, so the
 * cloud link behaves exactly as with no broker, as in CI. Tests that need a broker configure one.
 */
export const NO_BROKER = { cloud: { url: 'mqtt://127.0.0.1:9', allowPlaintext: true } };

function isolated(b: Board): Board {
  return { ...b, configDefaults: mergePatch(b.configDefaults, NO_BROKER) as Board['configDefaults'] };
}

export interface BootedSim {
  sup: Supervisor;
  dir: string;
  board: Board;
  /** Stops the supervisor (if still running) and removes the temp dir. */
  dispose(): Promise<void>;
}

/**
 * Boots the whole supervisor in-process on the sim board, in a fresh temp dir (config, secrets,
 * socket, card). Use under vitest fake timers to drive blink rates and the reset hold.
 */
export async function bootSim(
  opts: Partial<Omit<SupervisorOptions, 'board' | 'boardFile'>> & { board?: (b: Board) => Board; services?: ServiceFactory[]; dir?: string } = {},
): Promise<BootedSim> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'camd-'));
  const base = isolated(loadBoard(SIM_BOARD_FILE));
  const board = opts.board ? opts.board(base) : base;
  const sup = new Supervisor({
    logDestination: null,
    logLevel: 'debug',
    ...opts,
    board,
    boardFile: SIM_BOARD_FILE,
    services: opts.services ?? defaultServices,
    dataDir: opts.dataDir ?? join(dir, 'data'),
    runDir: opts.runDir ?? join(dir, 'run'),
    cardMount: opts.cardMount ?? join(dir, 'card'),
  });
  await sup.start();
  return {
    sup,
    dir,
    board,
    async dispose() {
      await sup.shutdown('test done');
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
