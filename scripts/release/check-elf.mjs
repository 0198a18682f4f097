#!/usr/bin/env node
// Fails if any ELF file (native addon, shared library, the node binary) under the given trees is
// not built for the target machine: a release that silently carries an x86-64 addon would only
// fail on the board, at the first require().
//   node check-elf.mjs <arm64|x64> <dir>...
import { openSync, readSync, closeSync, readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

const MACHINES = { 0x3e: 'x64', 0xb7: 'arm64', 0x28: 'arm' };
const [want, ...dirs] = process.argv.slice(2);
if (!want || !dirs.length || !Object.values(MACHINES).includes(want)) {
  process.stderr.write('usage: check-elf.mjs <arm64|x64|arm> <dir>...\n');
  process.exit(2);
}

function machineOf(file) {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(20);
    if (readSync(fd, head, 0, 20, 0) < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const m = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
    return MACHINES[m] ?? `e_machine 0x${m.toString(16)}`;
  } finally {
    closeSync(fd);
  }
}

const bad = [];
let count = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) walk(p);
    else if (st.isFile() && st.size >= 20) {
      const m = machineOf(p);
      if (m === undefined) continue;
      count++;
      if (m !== want) bad.push(`${p}: ${m}`);
    }
  }
};
for (const d of dirs) walk(d);
if (bad.length) {
  process.stderr.write(`check-elf: ${bad.length} of ${count} ELF files are not ${want}:\n  ${bad.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`check-elf: ${count} ELF files, all ${want}\n`);
