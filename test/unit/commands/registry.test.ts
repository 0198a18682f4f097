import { describe, expect, it } from 'vitest';
import { silentLogging } from '../../../src/core/log.js';
import { CommandRegistry, NoArgs, type Refusal } from '../../../src/commands/registry.js';

function registry(presence: { on: boolean }) {
  const reg = new CommandRegistry(silentLogging().forComponent('commands'));
  const refusals: Refusal[] = [];
  const ran: string[] = [];
  reg.setPolicy({ presence: () => presence.on, refused: (r) => void refusals.push(r) });
  const owner = {};
  for (const access of ['cloud', 'presence', 'local'] as const) {
    reg.register(owner, { name: `do.${access}`, summary: access, access, args: NoArgs, handler: () => void ran.push(access) });
  }
  return { reg, refusals, ran };
}

describe('command access classes', () => {
  it('local callers may run everything', async () => {
    const { reg, ran, refusals } = registry({ on: false });
    for (const a of ['cloud', 'presence', 'local']) expect(await reg.execute(`do.${a}`, {}, { source: 'local' })).toMatchObject({ ok: true });
    expect(ran).toEqual(['cloud', 'presence', 'local']);
    expect(refusals).toEqual([]);
  });

  it('the cloud: cloud-class yes; presence-class forbidden without presence (reported, handler not run); local-class does not exist', async () => {
    const { reg, ran, refusals } = registry({ on: false });
    expect(await reg.execute('do.cloud', {}, { source: 'cloud' })).toMatchObject({ ok: true });
    const p = await reg.execute('do.presence', {}, { source: 'cloud' });
    expect(p).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(!p.ok && p.error.message).toMatch(/physical presence.*RESET/);
    expect(await reg.execute('do.local', {}, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
    expect(ran).toEqual(['cloud']);
    expect(refusals).toEqual([expect.objectContaining({ source: 'cloud', command: 'do.presence' })]);
    expect(reg.list('cloud').map((c) => c.name)).toEqual(['do.cloud', 'do.presence']);
    expect(reg.list('local').map((c) => [c.name, c.access])).toContainEqual(['do.local', 'local']);
  });

  it('the cloud with physical presence proven may run presence-class commands, still not local ones', async () => {
    const { reg, ran } = registry({ on: true });
    expect(await reg.execute('do.presence', {}, { source: 'cloud' })).toMatchObject({ ok: true });
    expect(await reg.execute('do.local', {}, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
    expect(ran).toEqual(['presence']);
  });

  it('access is checked before the arguments: a forbidden call with bad arguments is still forbidden', async () => {
    const { reg } = registry({ on: false });
    expect(await reg.execute('do.presence', { junk: 1 }, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await reg.execute('do.presence', { junk: 1 }, { source: 'local' })).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
  });
});
