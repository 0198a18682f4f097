#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { resolve, join } from 'node:path';
import { loadBoard, BoardError, type Board } from '../board/schema.js';
import { LOG_LEVELS, type LogLevel } from './core/log.js';
import { errorMessage } from './core/errors.js';
import { projectRoot } from './core/paths.js';
import { defaultServices } from './services.js';
import { Supervisor } from './supervisor/supervisor.js';
import { ReleaseLayout, runningRelease } from './update/layout.js';
import { readTrial } from './update/trial.js';

const HELP = `camd — camera daemon

usage: camd [--board FILE] [--data-dir DIR] [--run-dir DIR] [--card-dir DIR] [--log-level LEVEL]

  --board       board file (default: $CAMD_BOARD or board/sim.json)
  --data-dir    config, secrets, outbox (default: the board's paths.dataDir)
  --run-dir     control socket directory (default: the board's paths.runDir)
  --card-dir    microSD mount point (default: the board's storage.cardMount)
  --log-level   ${LOG_LEVELS.join('|')} (default: from the config)
  --disable     comma-separated service names not to start (debugging, footprint checks)
`;

const repoRoot = projectRoot(import.meta.url);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      board: { type: 'string' },
      'data-dir': { type: 'string' },
      'run-dir': { type: 'string' },
      'card-dir': { type: 'string' },
      'log-level': { type: 'string' },
      disable: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const level = values['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    process.stderr.write(`camd: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  const boardFile = resolve(values.board ?? process.env.CAMD_BOARD ?? join(repoRoot, 'board/sim.json'));
  let board: Board;
  try {
    board = loadBoard(boardFile);
  } catch (err) {
    // A bad board file is a build/flash error: refuse to start, saying exactly what is wrong.
    process.stderr.write(`camd: refusing to start: ${err instanceof BoardError ? err.message : errorMessage(err)}\n`);
    // EX_CONFIG: systemd's RestartPreventExitStatus keeps it from looping. Not for a release on
    // trial: its board file is its own bug, and only another start lets the boot guard roll it back.
    if (await onTrial()) {
      process.stderr.write('camd: this release is on trial: exiting 1 so the boot guard can roll it back\n');
      return 1;
    }
    return 78;
  }

  for (;;) {
    const sup = new Supervisor({
      board,
      boardFile,
      services: defaultServices,
      dataDir: values['data-dir'] && resolve(values['data-dir']),
      runDir: values['run-dir'] && resolve(values['run-dir']),
      cardMount: values['card-dir'] && resolve(values['card-dir']),
      logLevel: level as LogLevel | undefined,
      disabled: values.disable?.split(',').map((x) => x.trim()).filter(Boolean),
    });
    const onSignal = (sig: NodeJS.Signals): void => void sup.shutdown(`signal ${sig}`, 0);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await sup.start();
    } catch (err) {
      sup.logging.forComponent('supervisor').fatal({ err: errorMessage(err) }, 'boot failed');
      await sup.shutdown('boot failed', 1);
    }
    const outcome = await sup.done;
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    if (outcome.action === 'exit') return outcome.code;
    // The sim board's "reboot": a whole new supervisor from what is on disk, in this process.
  }
}

/** Whether the release running this code is the one boot/trial.json names (src/update/trial.ts). */
async function onTrial(): Promise<boolean> {
  const r = await runningRelease(repoRoot).catch(() => undefined);
  if (!r?.base || !r.id) return false;
  const t = await readTrial(new ReleaseLayout(r.base)).catch(() => undefined);
  return t?.release === r.id;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Anything still holding the loop open (a stuck handle) must not keep a stopped daemon alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`camd: fatal: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
