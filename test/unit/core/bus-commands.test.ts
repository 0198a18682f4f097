import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogging } from '../../../src/core/log.js';
import { CamdError } from '../../../src/core/errors.js';
import { EventBus } from '../../../src/state/bus.js';
import { CommandRegistry } from '../../../src/commands/registry.js';
import { StateStore, initialState } from '../../../src/state/store.js';

const logging = silentLogging();

describe('EventBus', () => {
  it('contains a throwing handler, logs its owner, and still delivers to the others', () => {
    const bus = new EventBus(logging.forComponent('bus'));
    const got: string[] = [];
    const bad = { name: 'bad-service' };
    bus.on(bad, 'button.changed', () => {
      throw new Error('boom');
    });
    bus.on({ name: 'good' }, 'button.changed', (e) => void got.push(e.button));
    bus.emit('button.changed', { button: 'reset', pressed: true });
    expect(got).toEqual(['reset']);
    const line = logging.ring.recent().find((l) => l.msg === 'event handler failed');
    expect(line).toMatchObject({ owner: 'bad-service', component: 'bus' });
  });

  it('removes every handler of an owner', () => {
    const bus = new EventBus(logging.forComponent('bus'));
    const owner = {};
    bus.on(owner, 'button.changed', () => undefined);
    bus.on(owner, 'config.changed', () => undefined);
    bus.removeOwner(owner);
    expect(bus.listenerCount('button.changed') + bus.listenerCount('config.changed')).toBe(0);
  });
});

describe('CommandRegistry', () => {
  const reg = new CommandRegistry(logging.forComponent('commands'));
  const owner = {};
  let applied = 0;
  reg.register(owner, {
    name: 'ptz.goto',
    access: 'cloud',
    summary: 'test',
    args: z.object({ pan: z.number().min(0).max(355), tilt: z.number().min(-10).max(90) }).strict(),
    handler: ({ pan }) => {
      applied++;
      return { pan };
    },
  });
  reg.register(owner, { name: 'sim.only', access: 'local', summary: 'local', args: z.object({}).strict(), handler: () => 'ok' });
  reg.register(owner, {
    name: 'explode',
    access: 'cloud',
    summary: 'x',
    args: z.object({}).strict(),
    handler: () => {
      throw new CamdError('unavailable', 'motor not answering');
    },
  });

  it('runs a valid command', async () => {
    expect(await reg.execute('ptz.goto', { pan: 10, tilt: 0 }, { source: 'cloud' })).toEqual({ ok: true, result: { pan: 10 } });
  });

  it('rejects out-of-range and unknown keys with the path, without running the handler', async () => {
    const before = applied;
    expect(await reg.execute('ptz.goto', { pan: 400, tilt: 0 }, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'pan' } });
    expect(await reg.execute('ptz.goto', { pan: 1, tilt: 0, zoom: 2 }, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'invalid_args', path: 'zoom' } });
    expect(await reg.execute('ptz.goto', { pan: '1', tilt: 0 }, { source: 'cloud' })).toMatchObject({ ok: false, error: { path: 'pan' } });
    expect(applied).toBe(before);
  });

  it('unknown commands and local-only commands from the cloud are unknown', async () => {
    expect(await reg.execute('nope', {}, { source: 'local' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
    expect(await reg.execute('sim.only', {}, { source: 'cloud' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } });
    expect(await reg.execute('sim.only', {}, { source: 'local' })).toEqual({ ok: true, result: 'ok' });
  });

  it('handler errors keep their code', async () => {
    expect(await reg.execute('explode', {}, { source: 'local' })).toEqual({ ok: false, error: { code: 'unavailable', message: 'motor not answering' } });
  });

  it('lists commands with JSON schemas, hiding local-only ones from the cloud', () => {
    const names = reg.list('cloud').map((c) => c.name);
    expect(names).toContain('ptz.goto');
    expect(names).not.toContain('sim.only');
    expect(reg.list('cloud').find((c) => c.name === 'ptz.goto')!.args).toMatchObject({ type: 'object' });
  });
});

describe('StateStore', () => {
  it('batches several writes into one notification', () => {
    const store = new StateStore(initialState(1, 'x', 0));
    const seen: string[][] = [];
    store.subscribe((_s, changed) => seen.push([...changed].sort()));
    store.batch(() => {
      store.set('liveViewers', 1);
      store.set('sleeping', true);
    });
    expect(seen).toEqual([['liveViewers', 'sleeping']]);
  });

  it('faults keep their first "since"', () => {
    const store = new StateStore(initialState(1, 'x', 0));
    store.raiseFault('a', { kind: 'camera', component: 'c', message: 'm1' }, 100);
    store.raiseFault('a', { kind: 'camera', component: 'c', message: 'm2' }, 200);
    expect(store.get().faults.a).toMatchObject({ message: 'm2', since: 100 });
    store.clearFault('a');
    expect(store.get().faults).toEqual({});
  });
});
