import { readFileSync } from 'node:fs';
import { waitUntil } from './wait.js';

/**
 * Whether something on this machine listens on a local TCP port (socket state LISTEN) or has a
 * UDP port bound, read from /proc/net — without connecting, which would use up the single
 * connection a one-shot listener (`ffmpeg -listen 1`) accepts.
 */
export function isListening(port: number, proto: 'tcp' | 'udp'): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local?.endsWith(`:${hex}`)) continue;
      // TCP: 0A = LISTEN. UDP: a bound socket is all a listener is (07 = "close", i.e. unconnected).
      if (proto === 'udp' || cols[3] === '0A') return true;
    }
  }
  return false;
}

/** Waits (real time, generous deadline) until a listener is up on the port. */
export async function waitListening(port: number, proto: 'tcp' | 'udp', idleMs = 5_000): Promise<void> {
  await waitUntil(() => isListening(port, proto), `a ${proto} listener on port ${port}`, idleMs, 20);
}
