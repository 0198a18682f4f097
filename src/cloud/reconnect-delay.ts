/**
 * How long the session waits before the next connection attempt. Pure: the session passes the
 * attempt count, why it is reconnecting and (in tests) the random source.
 *
 * - `lost`: an established session dropped. Most often the broker restarted or failed over, and
 *   then it dropped every camera at the same instant: if each retried after ~1 s, the whole fleet
 *   would hit the new broker within one second (TLS handshakes, subscriptions, a full state and
 *   an outbox drain each). So the first attempt is spread uniformly over `spreadMs` (full
 *   jitter): a thousand cameras arrive at ~33 a second. Events made meanwhile wait in the flash
 *   outbox; nothing is lost by waiting.
 * - `failed`: an attempt got no session (refused, timed out, setup failed) — at boot, or while
 *   the broker is still down. Capped exponential backoff: base × 2^attempt, capped at `maxMs`,
 *   the upper half of it random, so the retries of many cameras do not fall into step either.
 *   (The attempt count starts over after a session that lasted STABLE_MS, see session.ts.)
 */
export interface ReconnectPolicy {
  baseMs: number;
  maxMs: number;
  /** Window over which the first attempt after a lost session is spread (full jitter). */
  spreadMs: number;
}

export const RECONNECT: ReconnectPolicy = { baseMs: 1000, maxMs: 60_000, spreadMs: 30_000 };

export type ReconnectCause = 'lost' | 'failed';

export function reconnectDelay(attempt: number, cause: ReconnectCause, policy: ReconnectPolicy = RECONNECT, random: () => number = Math.random): number {
  const r = Math.min(1, Math.max(0, random()));
  if (cause === 'lost') return Math.round(policy.spreadMs * r);
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(exp / 2 + (exp / 2) * r);
}
