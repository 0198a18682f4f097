import { resolve } from 'node:path';
import { ControlClient, type Reply } from './client.js';
import { green, red } from './format.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});
const mb = (n: unknown): string => `${(Number(n) / 1e6).toFixed(1)} MB`;
/** A JSON scalar as text ('' for anything else): the state arrives as untyped JSON. */
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

/**
 * `camctl update <file|url> [--allow-downgrade]`: asks for the install (the daemon checks the
 * signed manifest before it answers), then shows the progress from state.update on one line (a
 * line per phase when stdout is not a terminal), waits for the daemon to come back from its
 * restart and says which release runs and whether it is on trial.
 */
export async function runUpdate(sock: string, source: string, allowDowngrade: boolean, json: boolean, patienceMs = 300_000): Promise<number> {
  const src = /^[a-z]+:\/\//i.test(source) ? source : resolve(source);
  const client = await ControlClient.connect(sock);
  let reply: Reply;
  try {
    reply = await client.request('firmware.install', { source: src, allowDowngrade });
  } finally {
    client.close();
  }
  if (!reply.ok) {
    process.stderr.write(`camctl: update refused: ${reply.error.message}\n`);
    return 1;
  }
  const accepted = obj(reply.result);
  const target = str(accepted.version);
  if (!json) process.stdout.write(`updating ${str(accepted.from)} → ${target} (${mb(accepted.bytes)}, signed by key ${str(accepted.keyId)})\n`);
  const tty = process.stdout.isTTY === true && !json;
  const deadline = Date.now() + patienceMs;
  let lastPhase = '';
  let restarted = false;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const st = await status(sock);
    if (!st) {
      restarted = true; // the socket is gone while the daemon restarts
      continue;
    }
    const u = obj(st.update);
    const rel = obj(st.release);
    if (restarted || (rel.version === target && u.phase === 'idle')) {
      if (st.lifecycle !== 'running' || rel.version === undefined) continue;
      if (tty) process.stdout.write('\n');
      if (rel.version !== target) {
        const last = obj(rel.lastUpdate);
        process.stderr.write(`camctl: ${red('update did not stay')}: running ${str(rel.version)}${last.reason ? ` (${str(last.outcome)}: ${str(last.reason)})` : ''}\n`);
        return 1;
      }
      const trial = obj(rel.trial);
      if (json) process.stdout.write(`${JSON.stringify({ ok: true, release: rel })}\n`);
      else process.stdout.write(`${green(`running ${target}`)}${rel.trial ? `, on trial (start ${str(trial.boots)}/${str(trial.maxBoots)}; kept after ${str(trial.needs)} s healthy)` : ''}\n`);
      return 0;
    }
    const phase = str(u.phase);
    if (phase === 'failed') {
      if (tty) process.stdout.write('\n');
      process.stderr.write(`camctl: update failed: ${str(u.error)}\n`);
      return 1;
    }
    const line = phase === 'downloading' && u.total ? `downloading ${mb(u.bytes)} / ${mb(u.total)} (${Math.floor((100 * Number(u.bytes)) / Number(u.total))} %)` : phase;
    if (tty) process.stdout.write(`\r${line.padEnd(60)}`);
    else if (phase !== lastPhase && !json) process.stdout.write(`${line}\n`);
    lastPhase = phase;
  }
  process.stderr.write(`camctl: no answer from the updated daemon within ${Math.round(patienceMs / 1000)} s\n`);
  return 1;
}

async function status(sock: string): Promise<Obj | undefined> {
  try {
    const c = await ControlClient.connect(sock, 1000);
    try {
      const r = await c.request('status', {});
      return r.ok ? obj(r.result) : undefined;
    } finally {
      c.close();
    }
  } catch {
    return undefined;
  }
}
