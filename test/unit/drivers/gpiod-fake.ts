import { chmodSync, closeSync, constants, existsSync, openSync, writeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * Fake libgpiod v1.6 tools (gpioset, gpiomon, gpioget, gpioinfo) for the gpiod backend's unit
 * tests: one python3 script under four names on a PATH the test hands to the backend. They take
 * the options the real tools list in `--help` (-l/--active-low, -B/--bias=, -m/--mode=, -b,
 * -F/--format= with %o %e %s %n %%, -r, -f, -n, -s), print the real tools' error lines
 * ("gpioset: error setting the GPIO line values: Device or resource busy") and gpiomon's
 * custom format exactly as v1.6 does (fields unpadded, newline after each event).
 *
 * State lives in a directory: chips/<chip> (line count), held/<chip>-<off> (pid of the holder,
 * created with O_EXCL, so a second request is EBUSY like the kernel), value/<chip>-<off> (the
 * physical level; kept after release, as SoC latches do), edge/<chip>-<off> (a FIFO: the test
 * writes physical levels, gpiomon reports them), log (one line per request / set / release with
 * CLOCK_MONOTONIC ns).
 */
const SCRIPT = String.raw`#!/usr/bin/env python3
import os, sys, signal, time, errno

D = os.environ['FAKE_GPIO_DIR']
tool = os.path.basename(sys.argv[0])

def log(*parts):
    with open(os.path.join(D, 'log'), 'a') as f:
        f.write(' '.join(str(p) for p in (time.monotonic_ns(), tool) + parts) + '\n')

def die(msg):
    sys.stderr.write(tool + ': ' + msg + '\n')
    sys.exit(1)

def parse(argv):
    opts = {'l': False, 'B': 'as-is', 'm': 'exit', 'F': None, 'b': False, 'r': False, 'f': False, 'n': 0, 's': False}
    pos = []
    longs = {'active-low': 'l', 'bias': 'B', 'mode': 'm', 'format': 'F', 'line-buffered': 'b', 'rising-edge': 'r', 'falling-edge': 'f', 'num-events': 'n', 'silent': 's'}
    takes = {'B', 'm', 'F', 'n'}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith('--') and len(a) > 2:
            k, _, v = a[2:].partition('=')
            if k not in longs:
                die("unrecognized option '" + a + "'")
            o = longs[k]
            if o in takes:
                if not v:
                    i += 1; v = argv[i]
                opts[o] = int(v) if o == 'n' else v
            else:
                opts[o] = True
        elif a.startswith('-') and len(a) > 1:
            o = a[1]
            if o in takes:
                v = a[2:] or argv[i + 1]
                if not a[2:]: i += 1
                opts[o] = int(v) if o == 'n' else v
            else:
                opts[o] = True
        else:
            pos.append(a)
        i += 1
    if opts['B'] not in ('as-is', 'disable', 'pull-up', 'pull-down'):
        die('invalid bias: ' + opts['B'])
    return opts, pos

def chip_lines(chip, what):
    p = os.path.join(D, 'chips', chip)
    if not os.path.exists(p):
        die(what + ': No such file or directory')
    with open(p) as f:
        return int(f.read().strip())

def key(chip, off):
    return chip + '-' + str(off)

def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False

def request(chip, off, what):
    n = chip_lines(chip, what)
    if off < 0 or off >= n:
        die(what + ': Invalid argument')
    p = os.path.join(D, 'held', key(chip, off))
    for _ in range(2):
        try:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(fd, (str(os.getpid()) + ' ' + tool).encode())
            os.close(fd)
            return
        except FileExistsError:
            try:
                pid = int(open(p).read().split()[0])
            except Exception:
                pid = 0
            if pid and alive(pid):
                die(what + ': Device or resource busy')
            os.unlink(p)
    die(what + ': Device or resource busy')

def release(chip, off):
    p = os.path.join(D, 'held', key(chip, off))
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
    log('release', chip, off, os.getpid())

def physical(chip, off, bias):
    p = os.path.join(D, 'value', key(chip, off))
    if os.path.exists(p):
        return int(open(p).read().strip())
    return 1 if bias == 'pull-up' else 0

opts, pos = parse(sys.argv[1:])

if tool == 'gpioinfo':
    chip = pos[0]
    n = chip_lines(chip, 'error accessing GPIO chips')
    print(chip + ' - ' + str(n) + ' lines:')
    for off in range(n):
        p = os.path.join(D, 'held', key(chip, off))
        used = os.path.exists(p)
        consumer = '"' + open(p).read().split()[1] + '"' if used else 'unused'
        print('\tline %3u: %12s %12s %8s %13s%s' % (off, 'unnamed', consumer, 'input ', 'active-high ', ' [used]' if used else ''))
    sys.exit(0)

chip = pos[0]

if tool == 'gpioget':
    off = int(pos[1])
    request(chip, off, 'error reading GPIO values')
    v = physical(chip, off, opts['B']) ^ (1 if opts['l'] else 0)
    log('get', chip, off, v, opts['B'], os.getpid())
    release(chip, off)
    print(v)
    sys.exit(0)

if tool == 'gpioset':
    off_s, _, val_s = pos[1].partition('=')
    off, val = int(off_s), int(val_s)
    request(chip, off, 'error setting the GPIO line values')
    def stop(*_):
        release(chip, off)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(os.path.join(D, 'value', key(chip, off)), 'w') as f:
        f.write(str(val ^ (1 if opts['l'] else 0)))
    log('set', chip, off, val, opts['B'], opts['m'], 'active-low' if opts['l'] else 'active-high', os.getpid())
    if opts['m'] == 'signal':
        while True:
            signal.pause()
    stop()

if tool == 'gpiomon':
    off = int(pos[1])
    request(chip, off, 'error waiting for events')
    def stop(*_):
        release(chip, off)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    fifo = os.path.join(D, 'edge', key(chip, off))
    try:
        os.mkfifo(fifo)
    except FileExistsError:
        pass
    f = os.fdopen(os.open(fifo, os.O_RDWR), 'rb', buffering=0)  # read-write: no EOF when a writer closes
    log('monitor', chip, off, opts['B'], 'active-low' if opts['l'] else 'active-high', os.getpid())
    done = 0
    pending = b''
    while True:
        pending += f.read(64)
        while b'\n' in pending:
            text, _, pending = pending.partition(b'\n')
            phys = int(text.strip())
            with open(os.path.join(D, 'value', key(chip, off)), 'w') as vf:
                vf.write(str(phys))
            level = phys ^ (1 if opts['l'] else 0)
            if (opts['r'] and not level) or (opts['f'] and level):
                continue
            ts = time.monotonic_ns()
            if not opts['s']:
                if opts['F'] is None:
                    ev = ' RISING EDGE' if level else 'FALLING EDGE'
                    out = 'event: %s offset: %u timestamp: [%8d.%09d]' % (ev, off, ts // 1000000000, ts % 1000000000)
                else:
                    out, fmt, i = '', opts['F'], 0
                    while i < len(fmt):
                        c = fmt[i]
                        if c == '%' and i + 1 < len(fmt):
                            s = fmt[i + 1]
                            out += {'o': str(off), 'e': str(level), 's': str(ts // 1000000000), 'n': str(ts % 1000000000), '%': '%'}.get(s, '%' + s)
                            i += 2
                        else:
                            out += c
                            i += 1
                sys.stdout.write(out + '\n')
                if opts['b']:
                    sys.stdout.flush()
            done += 1
            if opts['n'] and done >= opts['n']:
                stop()
`;

export interface FakeGpio {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Drives an input's physical level (as the outside world would), through gpiomon's FIFO. */
  drive(chip: string, line: number, physical: 0 | 1): void;
  physical(chip: string, line: number): number | undefined;
  holder(chip: string, line: number): { pid: number; tool: string } | undefined;
  log(): string[];
  /** Pids of every fake tool still holding a line (alive). */
  livePids(): number[];
  cleanup(): void;
}

export function makeFakeGpio(chips: Record<string, number>): FakeGpio {
  const dir = mkdtempSync(join(tmpdir(), 'camd-fake-gpiod-'));
  const bin = join(dir, 'bin');
  for (const d of ['bin', 'chips', 'held', 'value', 'edge']) mkdirSync(join(dir, d));
  writeFileSync(join(bin, 'fake-gpiod.py'), SCRIPT);
  chmodSync(join(bin, 'fake-gpiod.py'), 0o755);
  for (const t of ['gpioset', 'gpiomon', 'gpioget', 'gpioinfo']) symlinkSync(join(bin, 'fake-gpiod.py'), join(bin, t));
  for (const [name, n] of Object.entries(chips)) writeFileSync(join(dir, 'chips', name), String(n));
  writeFileSync(join(dir, 'log'), '');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, FAKE_GPIO_DIR: dir };
  const k = (chip: string, line: number): string => `${chip}-${line}`;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const fake: FakeGpio = {
    dir,
    env,
    drive(chip, line, physical) {
      const fifo = join(dir, 'edge', k(chip, line));
      if (!existsSync(fifo)) execFileSync('mkfifo', [fifo]);
      // Non-blocking: ENXIO (a test failure, not a hang) when no gpiomon has it open.
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        writeSync(fd, `${physical}\n`);
      } finally {
        closeSync(fd);
      }
    },
    physical(chip, line) {
      const p = join(dir, 'value', k(chip, line));
      return existsSync(p) ? Number(readFileSync(p, 'utf8').trim()) : undefined;
    },
    holder(chip, line) {
      const p = join(dir, 'held', k(chip, line));
      if (!existsSync(p)) return undefined;
      const [pid, tool] = readFileSync(p, 'utf8').split(' ');
      return { pid: Number(pid), tool: tool ?? '' };
    },
    log: () => readFileSync(join(dir, 'log'), 'utf8').split('\n').filter(Boolean),
    livePids() {
      return readdirSync(join(dir, 'held'))
        .map((f) => Number(readFileSync(join(dir, 'held', f), 'utf8').split(' ')[0]))
        .filter((pid) => pid > 0 && alive(pid));
    },
    cleanup() {
      for (const pid of fake.livePids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fake;
}
