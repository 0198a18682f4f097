import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock as realClock } from '../../../src/core/clock.js';
import { type HardwareError } from '../../../drivers/errors.js';
import { type GpiodGpioChip, openGpiodChip, parseGpioinfo, parseMonLine } from '../../../drivers/gpio/gpiod.js';
import type { Level } from '../../../drivers/gpio/types.js';
import { makeFakeGpio, type FakeGpio } from './gpiod-fake.js';

const root = resolve(import.meta.dirname, '../../..');

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('gpiod output formats', () => {
  it('parses gpiomon --format="%e %s %n" lines (nanoseconds unpadded, as v1.6 prints them)', () => {
    expect(parseMonLine('1 12 5')).toEqual({ level: 1, ns: 12_000_000_005n });
    expect(parseMonLine('0 4711 999999999')).toEqual({ level: 0, ns: 4_711_999_999_999n });
    expect(parseMonLine('event:  RISING EDGE offset: 3 timestamp: [      12.000000005]')).toBeUndefined();
  });

  it('parses gpioinfo v1.6 rows: unused, kernel and named consumers', () => {
    const text = [
      'gpiochip0 - 4 lines:',
      '\tline   0:      unnamed       unused   input  active-high ',
      '\tline   1:      "LED1"     "camd"  output  active-high [used]',
      '\tline   2:      unnamed       kernel   input  active-high [used]',
      '\tline   3:      "RESET"       unused   input  active-low ',
    ].join('\n');
    expect([...parseGpioinfo(text)]).toEqual([
      [0, ''],
      [1, '"camd"'],
      [2, 'kernel'],
      [3, ''],
    ]);
  });
});

describe('GpiodGpioChip against fake gpiod tools', () => {
  let fake: FakeGpio;
  let chip: GpiodGpioChip | undefined;
  const errors: string[] = [];

  beforeEach(() => {
    fake = makeFakeGpio({ gpiochip0: 32, gpio4: 32 });
    errors.length = 0;
  });
  afterEach(async () => {
    await chip?.closeAndWait();
    chip = undefined;
    fake.cleanup();
  });

  const open = async (restartDelayMs = 50): Promise<GpiodGpioChip> =>
    (chip = await openGpiodChip({ chip: 'gpiochip0', clock: realClock, env: fake.env, restartDelayMs, onError: (n, e) => errors.push(`${n}: ${e.message}`) }));

  it('reports missing tools as one clear error', async () => {
    await expect(openGpiodChip({ chip: 'gpiochip0', clock: realClock, env: { PATH: '/nonexistent' } })).rejects.toThrow(
      /gpioset, gpiomon, gpioget, gpioinfo not found \(install Debian's gpiod package\)/,
    );
  });

  it('holds an output with gpioset --mode=signal, polarity and bias passed to the kernel, and a write replaces the holder', async () => {
    const c = await open();
    expect(c.diesWithDaemon).toBe(true);
    const siren = c.openOutput('siren', 5, { activeLow: true, bias: 'pull-up' });
    await until('first holder', () => fake.holder('gpiochip0', 5) !== undefined && fake.physical('gpiochip0', 5) !== undefined);
    const first = fake.holder('gpiochip0', 5)!;
    expect(first.tool).toBe('gpioset');
    // Logical 0 on an active-low line is physical high.
    expect(fake.physical('gpiochip0', 5)).toBe(1);
    expect(fake.log().find((l) => l.includes(' set '))).toMatch(/gpioset set gpiochip0 5 0 pull-up signal active-low \d+$/);
    siren.write(1);
    expect(siren.read()).toBe(1);
    await until('level 1', () => fake.physical('gpiochip0', 5) === 0);
    const second = fake.holder('gpiochip0', 5)!;
    expect(second.pid).not.toBe(first.pid);
    // The old holder released before the new one requested (the kernel would say EBUSY otherwise).
    expect(fake.log().filter((l) => / (set|release) gpiochip0 5 /.test(l)).map((l) => l.split(' ')[2])).toEqual(['set', 'release', 'set']);
    expect(errors).toEqual([]);
  });

  it('coalesces writes during a transition: the last level wins', async () => {
    const c = await open();
    const led = c.openOutput('ledRed', 1);
    await until('holder', () => fake.physical('gpiochip0', 1) === 0);
    for (const l of [1, 0, 1, 0, 1] as Level[]) led.write(l);
    await until('final level', () => fake.physical('gpiochip0', 1) === 1 && fake.holder('gpiochip0', 1) !== undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.physical('gpiochip0', 1)).toBe(1);
    // Far fewer process starts than writes.
    expect(fake.log().filter((l) => / set gpiochip0 1 /.test(l)).length).toBeLessThanOrEqual(3);
  });

  it('close drives an active output inactive (gpioset --mode=exit) and releases it', async () => {
    const c = await open();
    const spot = c.openOutput('spotlightEnable', 2, { initial: 1 });
    await until('on', () => fake.physical('gpiochip0', 2) === 1);
    spot.close();
    await c.closeAndWait();
    chip = undefined;
    expect(fake.physical('gpiochip0', 2)).toBe(0);
    expect(fake.holder('gpiochip0', 2)).toBeUndefined();
    expect(fake.log().some((l) => / set gpiochip0 2 0 as-is exit /.test(l))).toBe(true);
    expect(fake.livePids()).toEqual([]);
    expect(() => spot.write(1)).toThrow(/closed/);
  });

  it('an output on a line someone else holds fails at open with EBUSY (gpioinfo), a missing chip with ENODEV', async () => {
    const c = await open();
    const other = spawn('gpioset', ['--mode=signal', 'gpiochip0', '7=1'], { env: fake.env, stdio: 'ignore' });
    try {
      await until('other holder', () => fake.holder('gpiochip0', 7) !== undefined);
      expect(() => c.openOutput('siren', 7)).toThrow(/GPIO line 7 on gpiochip0 \(siren\) is busy: used by "gpioset"/);
      expect(() => c.openOutput('siren', 40)).toThrow(/gpiochip0 has no such line/);
      try {
        c.openOutput('x', 1, { chip: 'gpiochip9' });
        expect.unreachable();
      } catch (err) {
        expect((err as HardwareError).code).toBe('ENODEV');
        expect((err as Error).message).toMatch(/no such GPIO chip.*gpioinfo: error accessing GPIO chips: No such file or directory/);
      }
    } finally {
      other.kill('SIGTERM');
    }
  });

  it('reads an input with gpioget, then reports debounced edges from gpiomon, active-low and bias applied', async () => {
    const c = await open();
    const edges: [Level, bigint][] = [];
    chip = await openGpiodChip({ chip: 'gpiochip0', clock: realClock, env: fake.env, onEdge: (_n, l, ns) => edges.push([l, ns]) });
    await c.closeAndWait();
    // Pull-up and nothing pressing: physical 1, logical 0 on an active-low button.
    const reset = chip.openInput('reset', 12, { activeLow: true, bias: 'pull-up', debounceMs: 30 });
    expect(reset.read()).toBe(0);
    expect(fake.log().find((l) => l.includes(' get '))).toMatch(/gpioget get gpiochip0 12 0 pull-up/);
    const seen: Level[] = [];
    reset.watch((l) => seen.push(l));
    await until('monitor', () => fake.log().some((l) => / monitor gpiochip0 12 pull-up active-low /.test(l)));
    // Contact bounce: three edges inside the debounce time, then held pressed.
    fake.drive('gpiochip0', 12, 0);
    fake.drive('gpiochip0', 12, 1);
    fake.drive('gpiochip0', 12, 0);
    await until('pressed', () => seen.length === 1);
    expect(seen).toEqual([1]);
    expect(reset.read()).toBe(1);
    expect(edges.map(([l]) => l)).toEqual([1, 0, 1]);
    fake.drive('gpiochip0', 12, 1);
    await until('released', () => seen.length === 2);
    expect(seen).toEqual([1, 0]);
    reset.close();
    await chip.closeAndWait();
    expect(fake.holder('gpiochip0', 12)).toBeUndefined();
  });

  it('an input that is busy fails at open with the tool error mapped to EBUSY', async () => {
    const c = await open();
    const other = spawn('gpiomon', ['gpiochip0', '3'], { env: fake.env, stdio: 'ignore' });
    try {
      await until('other monitor', () => fake.holder('gpiochip0', 3) !== undefined);
      try {
        c.openInput('reset', 3);
        expect.unreachable();
      } catch (err) {
        expect((err as HardwareError).code).toBe('EBUSY');
        expect((err as Error).message).toMatch(/gpioget: error reading GPIO values: Device or resource busy/);
      }
    } finally {
      other.kill('SIGTERM');
    }
  });

  it('a gpiomon killed from outside is reported and restarted; a second claim of a line is refused', async () => {
    const c = await open(50);
    const reset = c.openInput('reset', 4);
    expect(() => c.openOutput('led', 4)).toThrow(/busy: already claimed as "reset"/);
    const seen: Level[] = [];
    reset.watch((l) => seen.push(l));
    await until('monitor', () => fake.holder('gpiochip0', 4)?.tool === 'gpiomon');
    const first = fake.holder('gpiochip0', 4)!.pid;
    process.kill(first, 'SIGKILL');
    await until('restarted', () => {
      const h = fake.holder('gpiochip0', 4);
      return h !== undefined && h.pid !== first;
    });
    expect(errors[0]).toMatch(/^reset: GPIO line 4 on gpiochip0 \(reset\): gpiomon ended by SIGTERM|^reset: .*gpiomon (ended|exited)/);
    await until('monitor 2', () => fake.log().filter((l) => / monitor gpiochip0 4 /.test(l)).length === 2);
    fake.drive('gpiochip0', 4, 1);
    await until('edge after restart', () => seen.length === 1);
  });

  it('lines are released when the daemon is SIGKILLed: every child gets SIGTERM through PR_SET_PDEATHSIG', async () => {
    const script = join(fake.dir, 'daemon.mts');
    writeFileSync(
      script,
      `import { openGpiodChip } from ${JSON.stringify(join(root, 'drivers/gpio/gpiod.ts'))};
import { systemClock as realClock } from ${JSON.stringify(join(root, 'src/core/clock.ts'))};
const chip = await openGpiodChip({ chip: 'gpiochip0', clock: realClock });
chip.openOutput('siren', 9, { initial: 1 });
chip.openInput('reset', 10);
chip.openOutput('irCutDay', 18, { chip: 'gpio4' });
console.log('open');
setInterval(() => undefined, 1000);
`,
    );
    const daemon = spawn(process.execPath, ['--import', 'tsx', script], { env: fake.env, cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await until(
        'three holders',
        () => fake.holder('gpiochip0', 9) !== undefined && fake.holder('gpiochip0', 10) !== undefined && fake.holder('gpio4', 18) !== undefined,
        20_000,
      );
      await until('holders set', () => fake.log().filter((l) => / (set|monitor) /.test(l)).length === 3, 10_000);
      const held = fake.livePids();
      expect(held).toHaveLength(3);
      daemon.kill('SIGKILL');
      await until('every line released', () => fake.livePids().length === 0, 5000);
      expect(fake.holder('gpiochip0', 9)).toBeUndefined();
      expect(fake.holder('gpiochip0', 10)).toBeUndefined();
      expect(fake.holder('gpio4', 18)).toBeUndefined();
      // The fake releases only in its SIGTERM handler: the release lines prove the death signal.
      expect(fake.log().filter((l) => / (gpioset|gpiomon) release /.test(l))).toHaveLength(3);
    } finally {
      daemon.kill('SIGKILL');
    }
  }, 40_000);

  it('measures write latency and daemon CPU per toggle (printed for the README)', async () => {
    const c = await open();
    const led = c.openOutput('ledBlue', 20);
    await until('holder', () => fake.physical('gpiochip0', 20) === 0 && fake.holder('gpiochip0', 20) !== undefined);
    const n = 10;
    const lat: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const level: Level = i % 2 === 0 ? 1 : 0;
      const t0 = process.hrtime.bigint();
      led.write(level);
      await until('toggle', () => fake.physical('gpiochip0', 20) === level && fake.holder('gpiochip0', 20) !== undefined, 5000);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const cpu = process.cpuUsage(cpu0);
    lat.sort((a, b) => a - b);
    console.log(
      `gpiod write latency (fake python gpioset, includes polling 10 ms): median ${lat[n / 2]!.toFixed(1)} ms, max ${lat[n - 1]!.toFixed(1)} ms; ` +
        `daemon CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms per toggle`,
    );
    expect(lat[n - 1]).toBeLessThan(5000);
  }, 60_000);
});
