/**
 * The sim-view page's figures, on a real sim daemon (its own process) with the sim-view server
 * and Debian's headless Chromium:
 *
 * - page update latency: from a GPIO edge on the sim timeline (its `t`, the daemon's clock) to
 *   the page receiving it (Date.now() in the page; same machine, same wall clock), p50/p99 over
 *   the LED's edges while `led.test` blinks it fast (250 ms period: 8 edges/s). Also the part of
 *   it up to the sim-view server (its receive time).
 * - the daemon's CPU (utime+stime of its process from /proc, ffmpeg children not included)
 *   over equal windows with no page open, with a page open, and with none again — the LED
 *   blinking the same in all three, so the difference is what a page costs.
 *
 * Run alone: `node --import tsx scripts/bench-simview.ts` (prints, and writes
 * bench-results/simview.json); or through `npm run bench` (BENCH_ONLY=simview).
 * SIMVIEW_WINDOW_S sets the window length (default 30 s: 240 LED edges).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { startDaemon } from '../test/harness/daemon.js';
import { startSimView } from '../test/harness/simview.js';
import { clockTicks, procTicks, quantile, round, sleep } from './bench-util.js';

const REPO = resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';

export async function benchSimview(): Promise<Record<string, number>> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  const windowMs = (Number(process.env.SIMVIEW_WINDOW_S) || 30) * 1000;
  const d = await startDaemon();
  const pid = d.proc.pid!;
  const view = await startSimView(d.socket);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    // The LED blinks fast through all windows (led.test lasts 300 s at most: renewed per window).
    const blink = async (): Promise<void> => {
      const r = await d.call('led.test', { color: 'blue', mode: 'fast', seconds: 300 });
      if (!r.ok) throw new Error(`led.test: ${r.error.message}`);
    };
    const cpu = async (): Promise<number> => {
      const t0 = procTicks(pid)!;
      const w0 = Date.now();
      await sleep(windowMs);
      return (100 * (procTicks(pid)! - t0)) / clockTicks() / ((Date.now() - w0) / 1000);
    };
    await blink();
    await sleep(3000); // past the boot's own work
    const idleBefore = await cpu();

    const page = await browser.newPage();
    await page.goto(view.url);
    // Strings: the page's DOM is not in this script's types.
    await page.waitForFunction("document.querySelector('#link')?.getAttribute('data-connected') === '1'", undefined, { timeout: 60_000 });
    await blink();
    await page.evaluate('window.simview.latencies.length = 0; window.simview.serverLatencies.length = 0');
    const withPage = await cpu();
    const { latencies, serverLatencies } = await page.evaluate<{ latencies: number[]; serverLatencies: number[] }>('({ latencies: window.simview.latencies, serverLatencies: window.simview.serverLatencies })');
    await page.close();
    // The server stops following once its last page is gone; give the close a moment to arrive.
    await sleep(1000);
    await blink();
    const idleAfter = await cpu();
    return {
      'simview LED edges measured': latencies.length,
      'simview edge → page latency p50 (ms)': round(quantile(latencies, 0.5)),
      'simview edge → page latency p99 (ms)': round(quantile(latencies, 0.99)),
      'simview edge → page latency max (ms)': round(Math.max(...latencies)),
      'simview edge → sim-view server p50 (ms)': round(quantile(serverLatencies, 0.5)),
      'simview edge → sim-view server p99 (ms)': round(quantile(serverLatencies, 0.99)),
      'simview window (s)': windowMs / 1000,
      'simview daemon CPU, no page (%)': round(idleBefore),
      'simview daemon CPU, page open (%)': round(withPage),
      'simview daemon CPU, no page again (%)': round(idleAfter),
    };
  } finally {
    await browser.close();
    await view.stop();
    d.proc.kill('SIGTERM');
    await d.exited;
    rmSync(d.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void benchSimview().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(52)} ${v}\n`);
    mkdirSync(join(REPO, 'bench-results'), { recursive: true });
    writeFileSync(join(REPO, 'bench-results/simview.json'), `${JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2)}\n`);
    process.stdout.write('written: bench-results/simview.json\n');
    process.exit(0);
  });
}
