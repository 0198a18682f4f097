/**
 * Runs a two-step command (storage.initialise, factory-reset) as a caller that means it: the first
 * call must answer `confirmation_required` with the one-time token in `error.confirm`, the second
 * brings it back. Resolves with the second reply; throws if the first was anything else.
 */
export async function confirmed<R>(ask: (cmd: string, args: Record<string, unknown>) => Promise<R>, cmd: string, args: Record<string, unknown> = {}): Promise<R> {
  const first = (await ask(cmd, args)) as { ok?: boolean; error?: { code?: string; confirm?: string } };
  const token = first.ok === false && first.error?.code === 'confirmation_required' ? first.error.confirm : undefined;
  if (!token) throw new Error(`${cmd}: expected confirmation_required with a token, got ${JSON.stringify(first)}`);
  return ask(cmd, { ...args, confirm: token });
}
