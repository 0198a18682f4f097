import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { bootSim } from '../harness/boot.js';
import { PROCESS_TIMEOUTS, patience } from '../harness/wait.js';

// Real processes (daemon, ffmpeg, mosquitto…): timeouts a busy machine cannot run out of.
vi.setConfig(PROCESS_TIMEOUTS);

/** A real AF_UNIX datagram listener (Node has none): python3 prints each datagram on a line. */
function listen(path: string) {
  const py = spawn('python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`, path]);
  let out = '';
  py.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return { text: () => out, stop: () => py.kill('SIGKILL') };
}

describe('sd_notify', () => {
  it('sends READY=1 after boot and WATCHDOG=1 at half the watchdog interval', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camd-notify-'));
    const sock = join(dir, 'notify.sock');
    const l = listen(sock);
    await vi.waitUntil(() => l.text().includes('LISTENING'), { timeout: patience(10_000) });
    const b = await bootSim({ env: { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000' } });
    try {
      await vi.waitUntil(() => l.text().includes('READY=1'), { timeout: patience(10_000) });
      expect(l.text()).toMatch(/STATUS=running/);
      // 200 ms pings: wait for a couple on the real clock (bounded; the period is from the env).
      await vi.waitUntil(() => (l.text().match(/WATCHDOG=1/g) ?? []).length >= 2, { timeout: patience(10_000) });
      await b.dispose();
      await vi.waitUntil(() => l.text().includes('STOPPING=1'), { timeout: patience(10_000) });
    } finally {
      await b.dispose();
      l.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
