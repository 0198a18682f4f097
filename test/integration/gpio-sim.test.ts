import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGpiodChip, type GpiodGpioChip } from '../../drivers/gpio/gpiod.js';
import type { Level } from '../../drivers/gpio/types.js';
import { systemClock } from '../../src/core/clock.js';

/**
 * The gpiod backend against the kernel's gpio-sim module (configfs): real /dev/gpiochipN, real
 * Debian gpiod tools, lines driven from the sim's sysfs attributes. Needs root, the gpiod
 * package and a kernel that can load gpio-sim; otherwise it skips and says which is missing.
 */
const CONFIGFS = '/sys/kernel/config';
const DEV = join(CONFIGFS, 'gpio-sim', `camd-test-${process.pid}`);

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (modprobe gpio-sim, configfs)';
  if (spawnSync('gpioset', ['--version']).error) return "gpioset not found: install Debian's gpiod package";
  if (!existsSync(join(CONFIGFS, 'gpio-sim'))) {
    const probe = spawnSync('modprobe', ['gpio-sim'], { encoding: 'utf8' });
    const mods = `/lib/modules/${release()}`;
    if (probe.error) return `modprobe gpio-sim: modprobe not found (kmod not installed); ${mods} ${existsSync(mods) ? 'exists' : 'is missing (no modules for this kernel in this container)'}`;
    if (probe.status !== 0) return `modprobe gpio-sim: ${probe.stderr.trim().replace(/^modprobe: /, '') || `exit ${probe.status}`} (kernel ${release()})`;
    if (!existsSync(join(CONFIGFS, 'gpio-sim'))) {
      const mounted = spawnSync('mount', ['-t', 'configfs', 'none', CONFIGFS], { encoding: 'utf8' });
      if (mounted.status !== 0 || !existsSync(join(CONFIGFS, 'gpio-sim'))) return `gpio-sim loaded but ${CONFIGFS}/gpio-sim is missing (configfs: ${mounted.stderr.trim()})`;
    }
  }
  return undefined;
}

const reason = unavailable();
if (reason) console.log(`gpio-sim integration skipped: ${reason}`);

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.skipIf(reason !== undefined)(`gpiod backend on gpio-sim${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let chipName = '';
  let simDir = '';
  let chip: GpiodGpioChip | undefined;
  const simValue = (line: number): number => Number(readFileSync(join(simDir, `sim_gpio${line}`, 'value'), 'utf8').trim());
  const simPull = (line: number, pull: 'pull-up' | 'pull-down'): void => writeFileSync(join(simDir, `sim_gpio${line}`, 'pull'), pull);

  beforeAll(() => {
    mkdirSync(DEV);
    mkdirSync(join(DEV, 'bank0'));
    writeFileSync(join(DEV, 'bank0', 'num_lines'), '8');
    writeFileSync(join(DEV, 'live'), '1');
    chipName = readFileSync(join(DEV, 'bank0', 'chip_name'), 'utf8').trim();
    const devName = readFileSync(join(DEV, 'dev_name'), 'utf8').trim();
    simDir = join('/sys/devices/platform', devName, chipName);
  });
  afterAll(async () => {
    await chip?.closeAndWait();
    if (existsSync(DEV)) {
      writeFileSync(join(DEV, 'live'), '0');
      rmdirSync(join(DEV, 'bank0'));
      rmdirSync(DEV);
    }
  });

  it('drives outputs (active-low applied by the kernel), reads inputs with bias, and reports edges with latency', async () => {
    const edgesNs: bigint[] = [];
    chip = await openGpiodChip({ chip: chipName, clock: systemClock, onEdge: (_n, _l, ns) => edgesNs.push(ns) });
    const led = chip.openOutput('ledRed', 0);
    const siren = chip.openOutput('siren', 1, { activeLow: true });
    await until('outputs held', () => simValue(0) === 0 && simValue(1) === 1);
    led.write(1);
    await until('led on', () => simValue(0) === 1);
    siren.write(1);
    await until('siren on (physical low)', () => simValue(1) === 0);

    // The button: active-low with the kernel's pull-up; the sim's pull plays the finger.
    simPull(2, 'pull-up');
    const reset = chip.openInput('reset', 2, { activeLow: true, bias: 'pull-up', debounceMs: 0 });
    expect(reset.read()).toBe(0);
    const seen: [Level, bigint][] = [];
    reset.watch((l) => seen.push([l, process.hrtime.bigint()]));
    await new Promise((r) => setTimeout(r, 300)); // gpiomon has requested the line
    const lat: number[] = [];
    for (let i = 0; i < 10; i++) {
      simPull(2, i % 2 === 0 ? 'pull-down' : 'pull-up');
      await until(`edge ${i}`, () => seen.length === i + 1);
      lat.push(Number(seen[i]![1] - edgesNs[i]!) / 1e6);
    }
    expect(seen.map(([l]) => l)).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    lat.sort((a, b) => a - b);
    console.log(`gpio-sim edge latency (kernel timestamp -> listener): median ${lat[5]!.toFixed(2)} ms, max ${lat[9]!.toFixed(2)} ms`);

    await chip.closeAndWait();
    chip = undefined;
    // Released: nothing in this process holds a line any more.
    const info = execFileSync('gpioinfo', [chipName], { encoding: 'utf8' });
    expect(info).not.toMatch(/\[used/);
  }, 60_000);
});
