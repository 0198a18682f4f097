import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPO } from '../harness/boot.js';
import type { DaemonProc } from '../harness/daemon.js';
import { CHROMIUM, chromiumMissing, simDaemon, startSimView } from '../harness/simview.js';
import { patience, PROCESS_TIMEOUTS } from '../harness/wait.js';
import { freePort, Receiver } from '../unit/capture/receiver-fixture.js';
import { waitListening } from '../harness/listening.js';

vi.setConfig({ ...PROCESS_TIMEOUTS, testTimeout: 600_000 });

/**
 * The sim-view page in a real browser (Debian's headless Chromium through playwright-core) on a
 * real sim daemon: what the page shows follows the board. Screenshots of each step go to
 * var/artifacts/simview/.
 */
const ARTIFACTS = join(REPO, 'var/artifacts/simview');
const WAIT = { timeout: patience(60_000), polling: 200 };

let daemon: { d: DaemonProc; remove: () => void; dir: string } | undefined;
let view: Awaited<ReturnType<typeof startSimView>> | undefined;
let browser: Browser | undefined;
let page: Page;
const receivers: Receiver[] = [];

/** Until a condition holds in the page (a JS expression: the page's DOM is not in this project's types). */
async function until(expr: string, polling = 200): Promise<void> {
  await page.waitForFunction(expr, undefined, { ...WAIT, polling });
}
const dialPan = "Number(document.querySelector('#ptz-dial').dataset.pan)";

async function shot(name: string): Promise<void> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`sim-view screenshot: ${path}`);
}

beforeAll(async () => {
  if (chromiumMissing) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  // A detection area on the wide lens, so the page has a zone to draw (the whole floor: the person counts).
  daemon = await simDaemon({ detection: { human: { areas: { wide: [[[0, 0.05], [1, 0.05], [1, 1], [0, 1]]] } } } });
  view = await startSimView(daemon.d.socket);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(view.url);
  await until("document.querySelector('#link').dataset.connected === '1'");
});

afterAll(async () => {
  await browser?.close();
  await view?.stop();
  for (const r of receivers) await r.kill();
  if (daemon && daemon.d.proc.exitCode === null) {
    daemon.d.proc.kill('SIGTERM');
    await daemon.d.exited;
  }
  daemon?.remove();
});

describe.skipIf(chromiumMissing)(`sim-view in headless Chromium (${CHROMIUM})`, () => {
  it('LED solid blue on a live view, a box on the person, the PTZ dial on a preset goto, RESET long-press → factory reset', async () => {
    const d = daemon!.d;
    await until("document.querySelectorAll('#lens-wide img[src]').length > 0");
    expect(await page.locator('#lens-wide .zones polygon').count()).toBe(1);
    await shot('01-connected');

    // Live view: the LED turns solid blue (the page's LED follows the GPIO edges).
    const port = await freePort('tcp');
    const rx = new Receiver(`rtmp://127.0.0.1:${port}/live/k`, join(daemon!.dir, 'rx.ts'));
    receivers.push(rx);
    await waitListening(port, 'tcp');
    expect(await d.call('live.start', { lenses: ['wide'], url: `rtmp://127.0.0.1:${port}/live/k`, audio: false })).toMatchObject({ ok: true });
    await until("document.querySelector('#led').dataset.led === 'blue-solid'");
    expect(await page.evaluate('window.simview.levels')).toMatchObject({ ledBlue: 1, ledRed: 0 });
    await shot('02-live-view-led-blue');

    // The person walks in: a detection box on the wide lens.
    await until("document.querySelectorAll('#lens-wide .boxes rect').length > 0", 100);
    await shot('03-person-box');

    // PTZ: save a preset, move away, goto it from the page.
    expect(await d.call('ptz.goto', { pan: 120, tilt: 20 })).toMatchObject({ ok: true });
    expect(await d.call('ptz.preset.save', { name: 'door' })).toMatchObject({ ok: true });
    expect(await d.call('ptz.goto', { pan: 10, tilt: 0 })).toMatchObject({ ok: true });
    await until(`Math.abs(${dialPan} - 10) <= 1`);
    await until("document.querySelector('#preset-name option[value=door]') !== null");
    await page.selectOption('#preset-name', 'door');
    await page.click('#preset-goto');
    // On its way (the head turns at its speed), then there.
    await until(`${dialPan} > 15 && ${dialPan} < 115`, 50);
    await until(`Math.abs(${dialPan} - 120) <= 1`);
    await shot('04-ptz-preset');
    expect(await d.call('live.stop')).toMatchObject({ ok: true });

    // RESET held 6 s on the page's button: factory reset, shown on the page.
    const bootCount = ((await d.call('status')) as { result: { bootCount: number } }).result.bootCount;
    await page.hover('#reset-hold');
    await page.mouse.down();
    await new Promise((r) => setTimeout(r, 6000)); // the hold itself, not a wait for a condition
    await page.mouse.up();
    await until('window.simview.factoryReset === true');
    expect(await page.locator('#banner').textContent()).toContain('factory reset (button)');
    await shot('05-factory-reset');
    // The daemon restarted in place and the page came back to it.
    await until("window.simview.hello >= 2 && document.querySelector('#link').dataset.connected === '1'");
    const after = (await d.call('status')) as { result: { bootCount: number; lifecycle: string } };
    expect(after.result.bootCount).toBeGreaterThan(bootCount);
    await shot('06-after-reset');
  });
});
