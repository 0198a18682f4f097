import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Clock, TimerHandle } from '../clock.js';
import { HardwareError, type HardwareErrorCode } from '../errors.js';
import type { Bias, DigitalIn, DigitalOut, GpioChip, InputOptions, Level, OutputOptions } from './types.js';
import { lineClosed, LineWatchers } from './watchers.js';

/**
 * GPIO through the kernel's character device (/dev/gpiochipN) with Debian's `gpiod` tools
 * (libgpiod v1.6 on bookworm) run as children, one per line:
 *
 * - an input is a long-running `gpiomon` that prints every edge with its kernel timestamp; its
 *   level at open comes from one `gpioget` (gpiomon prints no initial state, and the line cannot
 *   be read while gpiomon holds it);
 * - an output is a long-running `gpioset --mode=signal` holding the level; a write replaces it
 *   (SIGTERM, wait for the exit that frees the line, start one with the new level). v1.6 has no
 *   way to change the value of a held line from outside, so a write costs a process start, and
 *   between the two processes the line is unrequested for a few ms: most SoC drivers (Rockchip's
 *   included) keep the output latch then, gpio-sim falls back to the pull (see README).
 *
 * Polarity (`-l`) and bias (`-B`) are passed to the kernel, so levels are logical on both sides.
 * Lines are released when the holding process exits. Each child is started through
 * `setpriv --pdeathsig TERM` (util-linux), which sets PR_SET_PDEATHSIG before it execs the tool:
 * when the daemon dies, even by SIGKILL, the kernel sends each child SIGTERM and the lines are
 * free for the restart (Node cannot set the flag itself). Under systemd the unit's cgroup is
 * killed as well.
 */

export interface GpiodToolPaths {
  gpioset: string;
  gpiomon: string;
  gpioget: string;
  gpioinfo: string;
  setpriv: string;
}

export interface GpiodChipOptions {
  /** Chip for lines that name none: name (gpiochip3), number, /dev path or label (gpio3). */
  chip: string;
  clock: Clock;
  /** Tool commands; default the names on PATH. */
  tools?: Partial<GpiodToolPaths>;
  /** Children's environment (tests put fake tools on PATH). */
  env?: NodeJS.ProcessEnv;
  /** A child that ended on its own is restarted after this long (real time). */
  restartDelayMs?: number;
  /** A child that ended on its own, or could not hold its line. */
  onError?: (name: string, err: Error) => void;
  /** Every raw edge a gpiomon reported, with its kernel timestamp (CLOCK_MONOTONIC, ns). */
  onEdge?: (name: string, level: Level, kernelNs: bigint) => void;
}

interface Claim {
  name: string;
  stop(): Promise<void>;
}

const DEFAULT_TOOLS: GpiodToolPaths = { gpioset: 'gpioset', gpiomon: 'gpiomon', gpioget: 'gpioget', gpioinfo: 'gpioinfo', setpriv: 'setpriv' };
/** gpiomon's custom format: edge (0/1), seconds, nanoseconds (unpadded), one event a line. */
const MON_FORMAT = '%e %s %n';

export class GpiodGpioChip implements GpioChip {
  private readonly tools: GpiodToolPaths;
  private readonly claimed = new Map<string, Claim>();
  private readonly children = new Set<ChildProcess>();
  private readonly usedByOthers = new Map<string, Map<number, string>>();
  private readonly wrap: boolean;
  private readonly killAll = (): void => {
    for (const c of this.children) c.kill('SIGTERM');
  };

  constructor(private readonly opts: GpiodChipOptions) {
    this.tools = { ...DEFAULT_TOOLS, ...opts.tools };
    this.wrap = onPath(this.tools.setpriv, opts.env ?? process.env);
    // A normal exit or an uncaught exception still runs 'exit' handlers; SIGKILL is left to
    // the death signal above.
    process.on('exit', this.killAll);
  }

  /** Whether children get PR_SET_PDEATHSIG (setpriv found). */
  get diesWithDaemon(): boolean {
    return this.wrap;
  }

  openOutput(name: string, line: number, opts: OutputOptions = {}): DigitalOut {
    const chip = opts.chip ?? this.opts.chip;
    const key = this.claimKey(name, chip, line);
    this.checkFree(name, chip, line);
    const flags = lineFlags(opts);
    let desired: Level = opts.initial ?? 0;
    /** Level the running holder was started with; undefined while none runs. */
    let held: Level | undefined;
    /** Last level a holder was started with, i.e. what the line shows (or kept in the latch). */
    let lastDriven: Level | undefined;
    let holder: ChildProcess | undefined;
    let terminating = false;
    let closed = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let released: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (released = resolve));

    const startHolder = (mode: 'signal' | 'exit'): void => {
      const level = desired;
      const child = this.spawnTool(this.tools.gpioset, [...flags, `--mode=${mode}`, chip, `${line}=${level}`], name);
      holder = child;
      held = level;
      lastDriven = level;
      terminating = false;
      const stderr = collect(child);
      child.once('exit', (code, signal) => {
        this.children.delete(child);
        holder = undefined;
        held = undefined;
        const asked = terminating || mode === 'exit';
        terminating = false;
        if (mode === 'exit' && code !== 0) this.opts.onError?.(name, toolError('gpioset', name, chip, line, code, signal, stderr()));
        if (mode === 'exit' || closed) {
          finish(mode === 'exit');
          return;
        }
        if (!asked) {
          // Ended on its own (someone else holds the line, a bad offset, killed from outside):
          // report it and start again; the level is re-driven from `desired`.
          lastDriven = undefined;
          this.opts.onError?.(name, toolError('gpioset', name, chip, line, code, signal, stderr()));
          retry = setTimeout(() => {
            retry = undefined;
            pump();
          }, this.opts.restartDelayMs ?? 500);
          return;
        }
        pump();
      });
    };
    // Brings the held level to `desired`: one transition at a time, so the last write wins.
    const pump = (): void => {
      if (retry || closed) return;
      if (!holder) startHolder('signal');
      else if (held !== desired && !terminating) {
        terminating = true;
        holder.kill('SIGTERM');
      }
    };
    // After close: a line left active is driven inactive by one `gpioset --mode=exit` (which
    // sets the value and releases), since many SoC drivers keep the output latch after release.
    const finish = (zeroDone: boolean): void => {
      if (!zeroDone && lastDriven === 1) {
        desired = 0;
        startHolder('exit');
        return;
      }
      this.claimed.delete(key);
      released();
    };
    startHolder('signal');

    const handle: DigitalOut = {
      name,
      line,
      write: (level) => {
        if (closed) throw lineClosed(line, name);
        if (level !== 0 && level !== 1) throw new HardwareError('EINVAL', `GPIO level must be 0 or 1, got ${String(level)}`);
        if (level === desired) return;
        desired = level;
        pump();
      },
      read: () => desired,
      close: () => {
        if (closed) return;
        closed = true;
        clearTimeout(retry);
        retry = undefined;
        if (holder) {
          if (!terminating) {
            terminating = true;
            holder.kill('SIGTERM');
          }
        } else finish(false);
      },
    };
    this.claimed.set(key, { name, stop: () => (handle.close(), done) });
    return handle;
  }

  openInput(name: string, line: number, opts: InputOptions = {}): DigitalIn {
    const chip = opts.chip ?? this.opts.chip;
    const key = this.claimKey(name, chip, line);
    const flags = lineFlags(opts);
    const debounceMs = opts.debounceMs ?? 0;
    // gpioget requests the line as an input for a moment: the level at open, and the open error
    // (no chip, busy, no permission) while the caller can still be told synchronously.
    const got = spawnSync(this.tools.gpioget, [...flags, chip, String(line)], { env: this.opts.env ?? process.env, encoding: 'utf8', timeout: 5000 });
    if (got.error) throw toolMissing('gpioget', got.error);
    if (got.status !== 0) throw toolError('gpioget', name, chip, line, got.status, got.signal, got.stderr);
    const first = got.stdout.trim();
    if (first !== '0' && first !== '1') throw new HardwareError('EIO', `GPIO line ${line} (${name}): gpioget printed "${first}"`);
    let value: Level = first === '1' ? 1 : 0;
    let raw: Level = value;
    let timer: TimerHandle | undefined;
    let monitor: ChildProcess | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const watchers = new LineWatchers(line, name);
    let released: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (released = resolve));

    const settle = (): void => {
      timer = undefined;
      if (watchers.closed || raw === value) return;
      value = raw;
      watchers.notify(value);
    };
    const onEdge = (level: Level): void => {
      if (level === raw) return;
      raw = level;
      this.opts.clock.clearTimeout(timer);
      timer = undefined;
      if (debounceMs === 0) settle();
      else timer = this.opts.clock.setTimeout(settle, debounceMs);
    };
    const startMonitor = (): void => {
      const child = this.spawnTool(this.tools.gpiomon, [...flags, '--line-buffered', `--format=${MON_FORMAT}`, chip, String(line)], name, true);
      monitor = child;
      const stderr = collect(child);
      createInterface({ input: child.stdout! }).on('line', (text) => {
        const ev = parseMonLine(text);
        if (!ev) return;
        this.opts.onEdge?.(name, ev.level, ev.ns);
        onEdge(ev.level);
      });
      child.once('exit', (code, signal) => {
        this.children.delete(child);
        monitor = undefined;
        if (watchers.closed) {
          this.claimed.delete(key);
          released();
          return;
        }
        // gpiomon ended on its own: edges are lost until it is back; say so and restart.
        this.opts.onError?.(name, toolError('gpiomon', name, chip, line, code, signal, stderr()));
        retry = setTimeout(() => {
          retry = undefined;
          if (!watchers.closed) startMonitor();
        }, this.opts.restartDelayMs ?? 500);
      });
    };
    startMonitor();

    const handle: DigitalIn = {
      name,
      line,
      read: () => value,
      watch: (listener) => watchers.watch(listener),
      close: () => {
        if (!watchers.close()) return;
        this.opts.clock.clearTimeout(timer);
        clearTimeout(retry);
        if (monitor) monitor.kill('SIGTERM');
        else {
          this.claimed.delete(key);
          released();
        }
      },
    };
    this.claimed.set(key, { name, stop: () => (handle.close(), done) });
    return handle;
  }

  close(): void {
    void this.closeAndWait();
  }

  /** Closes every line and resolves when every child has exited (its line released). */
  async closeAndWait(): Promise<void> {
    await Promise.all([...this.claimed.values()].map((c) => c.stop()));
    process.removeListener('exit', this.killAll);
  }

  /** Pids of the running children, for tests and status. */
  pids(): number[] {
    return [...this.children].flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  private claimKey(name: string, chip: string, line: number): string {
    if (!Number.isInteger(line) || line < 0) throw new HardwareError('EINVAL', `GPIO line ${line} (${name}): not a valid line offset`);
    const key = `${chip}:${line}`;
    const holder = this.claimed.get(key);
    if (holder) throw new HardwareError('EBUSY', `GPIO line ${line} on ${chip} (${name}) is busy: already claimed as "${holder.name}"`);
    return key;
  }

  /**
   * Outputs are checked with gpioinfo, which reads the chip without requesting a line: a
   * gpioget would turn an output into an input for a moment.
   */
  private checkFree(name: string, chip: string, line: number): void {
    let used = this.usedByOthers.get(chip);
    if (!used) {
      const info = spawnSync(this.tools.gpioinfo, [chip], { env: this.opts.env ?? process.env, encoding: 'utf8', timeout: 5000 });
      if (info.error) throw toolMissing('gpioinfo', info.error);
      if (info.status !== 0) throw toolError('gpioinfo', name, chip, line, info.status, info.signal, info.stderr);
      used = parseGpioinfo(info.stdout);
      this.usedByOthers.set(chip, used);
    }
    if (!used.has(line)) throw new HardwareError('EINVAL', `GPIO line ${line} (${name}): ${chip} has no such line (gpioinfo lists ${used.size})`);
    const consumer = used.get(line);
    if (consumer) throw new HardwareError('EBUSY', `GPIO line ${line} on ${chip} (${name}) is busy: used by ${consumer}`);
  }

  private spawnTool(cmd: string, args: string[], name: string, stdout = false): ChildProcess {
    const [file, argv] = this.wrap ? [this.tools.setpriv, ['--pdeathsig', 'TERM', '--', cmd, ...args]] : [cmd, args];
    const child = spawn(file, argv, { env: this.opts.env ?? process.env, stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'] });
    child.on('error', (err) => this.opts.onError?.(name, toolMissing(cmd, err)));
    this.children.add(child);
    return child;
  }
}

/** `-l` and `-B` as the v1.6 tools take them (see `gpioset --help`). */
function lineFlags(opts: { activeLow?: boolean; bias?: Bias }): string[] {
  const flags: string[] = [];
  if (opts.activeLow) flags.push('--active-low');
  if (opts.bias && opts.bias !== 'as-is') flags.push(`--bias=${opts.bias}`);
  return flags;
}

/** One line of `gpiomon --format='%e %s %n'`: "1 1234 56789" (nanoseconds unpadded). */
export function parseMonLine(text: string): { level: Level; ns: bigint } | undefined {
  const m = /^([01]) (\d+) (\d+)$/.exec(text.trim());
  if (!m) return undefined;
  return { level: m[1] === '1' ? 1 : 0, ns: BigInt(m[2]!) * 1_000_000_000n + BigInt(m[3]!) };
}

/**
 * gpioinfo v1.6: `\tline  12:   "name"|unnamed   unused|kernel|"consumer"   input ...`.
 * Returns offset → consumer ('' when unused).
 */
export function parseGpioinfo(text: string): Map<number, string> {
  const lines = new Map<number, string>();
  for (const row of text.split('\n')) {
    const m = /^\s*line\s+(\d+):\s+(?:"[^"]*"|unnamed)\s+(unused|kernel|"[^"]*")/.exec(row);
    if (m) lines.set(Number(m[1]), m[2] === 'unused' ? '' : m[2]!);
  }
  return lines;
}

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (text.length < 2000) text += d.toString('utf8');
  });
  return () => text.trim();
}

/** The tools print `<tool>: <what>: <strerror>`; the strerror decides the code and the hint. */
function toolError(tool: string, name: string, chip: string, line: number, code: number | null, signal: NodeJS.Signals | null, stderr: string): HardwareError {
  const what = `GPIO line ${line} on ${chip} (${name})`;
  const reasons: [RegExp, HardwareErrorCode, string][] = [
    [/Device or resource busy/, 'EBUSY', 'is busy: claimed by a kernel driver (check the device tree) or another process'],
    [/Permission denied|Operation not permitted/, 'EACCES', `permission denied on /dev/${chip.replace(/^\/dev\//, '')}: camd needs the gpio group (udev) and DeviceAllow=char-gpiochip`],
    [/No such file or directory|No such device/, 'ENODEV', 'cannot be opened: no such GPIO chip (check gpio.chip in the board file; `gpiodetect` lists them)'],
    [/Invalid argument/, 'EINVAL', 'is not a valid offset on this chip, or the chip cannot do what was asked (bias, edges)'],
  ];
  const hit = reasons.find(([re]) => re.test(stderr));
  const how = signal ? `ended by ${signal}` : `exited with ${String(code)}`;
  if (hit) return new HardwareError(hit[1], `${what} ${hit[2]} (${tool}: ${stderr})`);
  return new HardwareError('EIO', `${what}: ${tool} ${how}${stderr ? `: ${stderr}` : ''}`);
}

function toolMissing(tool: string, err: Error): HardwareError {
  const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
  return new HardwareError(
    'ENODEV',
    missing ? `${tool} not found: install Debian's gpiod package (libgpiod tools)` : `${tool} failed to start: ${err.message}`,
    { cause: err },
  );
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): boolean {
  if (cmd.includes('/')) return existsSync(cmd);
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, cmd)));
}

/**
 * Checks that the tools are installed, so a board without them fails every GPIO part with one
 * clear reason; a missing chip is reported per line (gpioinfo/gpioget name the chip).
 */
export async function openGpiodChip(opts: GpiodChipOptions): Promise<GpiodGpioChip> {
  const tools = { ...DEFAULT_TOOLS, ...opts.tools };
  const env = opts.env ?? process.env;
  const missing = (['gpioset', 'gpiomon', 'gpioget', 'gpioinfo'] as const).filter((t) => !onPath(tools[t], env));
  if (missing.length > 0) throw new HardwareError('ENODEV', `GPIO character-device backend: ${missing.join(', ')} not found (install Debian's gpiod package)`);
  return new GpiodGpioChip(opts);
}
