import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBoard } from '../../board/schema.js';
import { detectBoard, bottleClip, personClip } from '../integration/detect-daemon-media.js';
import { NO_BROKER, REPO, SIM_BOARD_FILE } from './boot.js';
import { startDaemon, type DaemonProc } from './daemon.js';
import { patience } from './wait.js';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing = !existsSync(CHROMIUM);

/** A real sim daemon whose wide lens plays the person walking in (detect-daemon-media.ts). */
export async function simDaemon(config: Record<string, unknown> = {}): Promise<{ d: DaemonProc; dir: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-simview-'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'card'));
  writeFileSync(join(dir, 'data', 'config.json'), JSON.stringify({ ...NO_BROKER, capture: { tap: { fps: 5 } }, ...config }));
  const board = join(dir, 'board.json');
  writeFileSync(board, JSON.stringify(detectBoard(dir, { wide: personClip(), ptz: bottleClip() })(loadBoard(SIM_BOARD_FILE))));
  const d = await startDaemon({ dir, board });
  return { d, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The sim-view server as the script starts it (src/simview/main.ts), on a free port; resolves with its URL. */
export async function startSimView(socket: string): Promise<{ proc: ChildProcess; url: string; stop: () => Promise<void> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/simview/main.ts'), '--port', '0', '--socket', socket], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sim-view printed no URL:\n${out}`)), patience(20_000));
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /sim-view: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`sim-view exited (${code}):\n${out}`)));
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    url,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
