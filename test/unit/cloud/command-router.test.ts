import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogging } from '../../../src/core/log.js';
import { CamdError } from '../../../src/core/errors.js';
import { CommandRegistry, NoArgs } from '../../../src/commands/registry.js';
import { CommandRouter, MAX_REPLY_BYTES } from '../../../src/cloud/command-router.js';
import type { InboundMessage } from '../../../src/cloud/inbound.js';
import { ReplySchema } from '../../../src/cloud/schema.js';
import { topicsFor } from '../../../src/cloud/topics.js';

const logging = silentLogging();
const topics = topicsFor('camd', 'CAM123456789');
const owner = {};

function setup(maxConcurrent?: number) {
  const commands = new CommandRegistry(logging.forComponent('commands'));
  const applied: number[] = [];
  let release: () => void = () => undefined;
  commands.register(owner, { name: 'set.level', access: 'cloud', summary: '', args: z.object({ level: z.number().int().min(0).max(10) }).strict(), handler: ({ level }) => (applied.push(level), { level }) });
  commands.register(owner, { name: 'slow', access: 'cloud', summary: '', args: NoArgs, handler: () => new Promise<string>((r) => (release = () => r('done'))) });
  commands.register(owner, { name: 'huge', access: 'cloud', summary: '', args: NoArgs, handler: () => 'x'.repeat(MAX_REPLY_BYTES + 10) });
  commands.register(owner, { name: 'throws', access: 'cloud', summary: '', args: NoArgs, handler: () => { throw new CamdError('unavailable', 'no PTZ on this board', 'lens'); } });
  commands.register(owner, { name: 'local.only', access: 'local', summary: '', args: NoArgs, handler: () => 'secret' });
  const replies: { topic: string; body: Record<string, unknown>; corr?: string }[] = [];
  const router = new CommandRouter({
    topics, commands, log: logging.forComponent('cloud'), ...(maxConcurrent !== undefined && { maxConcurrent }),
    reply: async (topic, payload, corr) => void replies.push({ topic, body: ReplySchema.parse(JSON.parse(payload)), ...(corr && { corr: corr.toString() }) }),
  });
  return { router, replies, applied, release: () => release() };
}

const msg = (name: string, payload: string | Buffer, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  topic: `${topics.base}/cmd/${name}`, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), retain: false, ...extra,
});

describe('command router', () => {
  it('replies on the response topic with the correlation data', async () => {
    const { router, replies, applied } = setup();
    await router.handle(msg('set.level', '{"level":3}', { responseTopic: `${topics.base}/reply/app`, correlationData: Buffer.from('c1') }));
    expect(replies).toEqual([{ topic: `${topics.base}/reply/app`, body: { ok: true, result: { level: 3 } }, corr: 'c1' }]);
    expect(applied).toEqual([3]);
  });

  it('falls back to cmd/<name>/reply and echoes requestId (which is not an argument)', async () => {
    const { router, replies } = setup();
    await router.handle(msg('set.level', '{"level":4,"requestId":"abc"}'));
    await router.handle(msg('set.level', '{"level":5}', { responseTopic: 'camd/OTHER/reply' }));
    expect(replies.map((r) => r.topic)).toEqual([topics.commandReply('set.level'), topics.commandReply('set.level')]);
    expect(replies[0]!.body).toEqual({ ok: true, result: { level: 4 }, requestId: 'abc' });
  });

  it('every kind of bad input gets exactly one precise error reply and applies nothing', async () => {
    const { router, replies, applied } = setup();
    const cases: [InboundMessage, string, string?][] = [
      [msg('nope', '{}'), 'unknown_command'],
      [msg('local.only', '{}'), 'unknown_command'],
      [msg('set.level', '{"level":'), 'malformed'],
      [msg('set.level', Buffer.from([0xc3, 0x28])), 'malformed'],
      [msg('set.level', 'null'), 'invalid_args'],
      [msg('set.level', '"3"'), 'invalid_args'],
      [msg('set.level', '{"level":"3"}'), 'invalid_args', 'level'],
      [msg('set.level', '{"level":11}'), 'invalid_args', 'level'],
      [msg('set.level', '{"level":1,"extra":true}'), 'invalid_args', 'extra'],
      [msg('set.level', `{"level":1,"pad":"${'a'.repeat(70_000)}"}`), 'too_large'],
      [msg('set.level', '{"level":1}', { retain: true }), 'invalid_args'],
      [msg('set.level', '{"level":1,"requestId":""}'), 'invalid_args', 'requestId'],
      [msg('throws', '{}'), 'unavailable', 'lens'],
      [msg('huge', '{}'), 'too_large'],
    ];
    for (const [m, code, path] of cases) {
      const before = replies.length;
      await router.handle(m);
      expect(replies.length - before, `${m.topic} ${m.payload.subarray(0, 30).toString()}`).toBe(1);
      expect(replies.at(-1)!.body, m.payload.subarray(0, 30).toString()).toMatchObject({ ok: false, error: { code, ...(path && { path }) } });
    }
    expect(applied).toEqual([]);
  });

  it('an empty retained message (clearing a retained command) is not a command', async () => {
    const { router, replies } = setup();
    await router.handle(msg('set.level', '', { retain: true }));
    expect(replies).toEqual([]);
  });

  it('a flood is bounded: beyond the concurrency limit the answer is busy', async () => {
    const { router, replies, release } = setup(2);
    const a = router.handle(msg('slow', '{"requestId":"a"}'));
    const b = router.handle(msg('slow', '{"requestId":"b"}'));
    await router.handle(msg('slow', '{"requestId":"c"}'));
    expect(replies).toEqual([{ topic: topics.commandReply('slow'), body: { ok: false, error: expect.objectContaining({ code: 'busy' }), requestId: 'c' } }]);
    release();
    release();
    await Promise.race([Promise.all([a, b]), new Promise((r) => setTimeout(r, 50))]);
  });

  it('a reply that cannot be sent is logged, never thrown', async () => {
    const commands = new CommandRegistry(logging.forComponent('commands'));
    commands.register(owner, { name: 'x', access: 'cloud', summary: '', args: NoArgs, handler: () => 1 });
    const router = new CommandRouter({ topics, commands, log: logging.forComponent('cloud'), reply: async () => { throw new Error('not connected'); } });
    await expect(router.handle(msg('x', '{}'))).resolves.toBeUndefined();
  });
});
