import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureServices } from '../../src/services.js';
import type { LogLine } from '../../src/core/log.js';
import type { CameraEvent } from '../../src/state/bus.js';
import { coreCommands } from '../../src/supervisor/core-commands.js';
import { bootSim, type BootedSim } from '../harness/boot.js';
import { isListening, waitListening } from '../harness/listening.js';
import { pause, PROCESS_TIMEOUTS, waitUntil } from '../harness/wait.js';
import { processesMentioning, removeTestDirs, smallBoard, testDir } from '../unit/capture/media-fixture.js';
import { freePort, Receiver } from '../unit/capture/receiver-fixture.js';
import { childListeners } from './live-fixtures.js';

// Real processes (the supervisor's ffmpeg children, receiving ffmpeg).
vi.setConfig(PROCESS_TIMEOUTS);

/**
 * The media URL policy through the real supervisor on the sim board, as the cloud calls it (the
 * command registry MQTT goes through): listener and local-network URLs are refused with the rule
 * and nothing listens afterwards; a push with credentials leaves no trace of them anywhere.
 */

let booted: BootedSim;
let dir: string;
const events: CameraEvent[] = [];
const receivers: Receiver[] = [];
type Reply = { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string; path?: string } };
const cloud = (cmd: string, args: Record<string, unknown>) => booted.sup.commands.execute(cmd, args, { source: 'cloud' }) as Promise<Reply>;
const pushers = () => processesMentioning(join(dir, 'run', 'relay-')).length;

beforeAll(async () => {
  dir = testDir();
  booted = await bootSim({ dir, board: smallBoard(dir), services: [coreCommands, ...captureServices] });
  booted.sup.bus.on({ name: 'test' }, 'camera.event', (e) => void events.push(e));
  await waitUntil(() => booted.sup.state.get().capture?.wide?.status === 'running' && booted.sup.state.get().capture?.ptz?.status === 'running', 'both lenses capturing', 15_000);
});

afterEach(async () => {
  for (const r of receivers.splice(0)) await r.kill();
});

afterAll(async () => {
  await booted?.dispose();
  removeTestDirs();
});

describe('the media URL policy in the daemon', () => {
  it('refuses listeners and local targets from the cloud with the rule; nothing listens, nothing changes', async () => {
    // The owner's production stance, set locally (the cloud may not change it).
    await booted.sup.config.patch({ live: { allowPlaintext: false, allowLocalTargets: false } }, 'test');
    expect(await cloud('config.set', { patch: { live: { allowLocalTargets: true } } })).toMatchObject({ ok: false });

    // The detector below can see a listening child: an ffmpeg SRT listener of the test's own.
    const probe = await freePort('udp');
    const rx = new Receiver(`srt://127.0.0.1:${probe}`, join(dir, 'probe.ts'));
    receivers.push(rx);
    await waitListening(probe, 'udp');
    expect(childListeners().some((l) => l.includes(`srt://127.0.0.1:${probe}`))).toBe(true);
    await rx.kill();
    expect(childListeners()).toEqual([]);

    const srtPort = await freePort('udp');
    const tcpPort = await freePort('tcp');
    const attacks: [string, Record<string, unknown>, string, number | undefined][] = [
      ['live.start', { lenses: ['ptz'], url: `srt://0.0.0.0:${srtPort}?mode=listener` }, 'forbidden:no-listener', srtPort],
      ['live.start', { lenses: ['ptz'], url: `srt://198.51.100.7:${srtPort}?mode=rendezvous` }, 'forbidden:no-listener', srtPort],
      ['live.start', { lenses: ['wide'], url: `srt://198.51.100.7:${srtPort}?passphrase=0123456789ab&latency=1#&mode=listener` }, 'forbidden:no-listener', srtPort],
      ['talk.start', { url: `srt://0.0.0.0:${srtPort}?mode=listener` }, 'forbidden:no-listener', srtPort],
      ['live.start', { lenses: ['wide'], url: `srt://198.51.100.7:${srtPort}?passphrase=0123456789ab&localport=${srtPort}` }, 'forbidden:query-key', srtPort],
      ['live.start', { lenses: ['wide'], url: `rtmps://0.0.0.0:${tcpPort}/app?listen=1` }, 'forbidden:query-key', undefined],
      ['live.start', { lenses: ['wide'], url: `tcp://0.0.0.0:${tcpPort}?listen` }, 'invalid_args', undefined],
      ['live.start', { lenses: ['wide'], url: `udp://0.0.0.0:${srtPort}` }, 'invalid_args', srtPort],
      ['live.start', { lenses: ['wide'], url: 'rtmp://203.0.113.9/app/key' }, 'forbidden:plaintext', undefined],
      ['live.start', { lenses: ['wide'], url: 'rtsps://203.0.113.9/cam' }, 'forbidden:plaintext', undefined],
      ['talk.start', { url: 'http://127.0.0.1:1883/' }, 'forbidden:plaintext', undefined],
      ['talk.start', { url: 'https://127.0.0.1:1883/' }, 'forbidden:local-target', undefined],
      ['talk.start', { url: 'https://[::1]/' }, 'forbidden:local-target', undefined],
      ['talk.start', { url: 'https://169.254.169.254/latest' }, 'forbidden:local-target', undefined],
      ['talk.start', { url: 'https://[::ffff:127.0.0.1]/' }, 'forbidden:local-target', undefined],
      ['talk.start', { url: 'https://2130706433/' }, 'forbidden:local-target', undefined],
      ['talk.start', { url: 'https://localhost/' }, 'forbidden:local-target', undefined],
      ['live.start', { lenses: ['wide'], url: 'rtmps://10.1.2.3/app/key' }, 'forbidden:local-target', undefined],
      ['live.start', { lenses: ['wide'], url: 'rtmps://2130706433/app/key' }, 'forbidden:numeric-host', undefined],
    ];
    const state = () => JSON.stringify({ live: booted.sup.state.get().live, viewers: booted.sup.state.get().liveViewers, config: booted.sup.config.get() });
    const before = state();
    for (const [cmd, args, want, port] of attacks) {
      const mark = events.length;
      const r = await cloud(cmd, args);
      const [code, rule] = want.split(':');
      expect(r, `${cmd} ${JSON.stringify(args)}`).toMatchObject({ ok: false, error: { code, path: 'url' } });
      if (rule) {
        expect(r.error!.message).toContain(`(media URL policy: ${rule})`);
        // A refusal is an event too (the registry raises it), naming the rule.
        expect(events.slice(mark).find((e) => e.kind === 'security' && e.type === 'request.forbidden')?.data).toMatchObject({ command: cmd, source: 'cloud' });
      }
      // Anything the command might have started gets a moment to show.
      await pause(300);
      if (port !== undefined) expect(isListening(port, 'udp') || isListening(port, 'tcp'), `${cmd} ${JSON.stringify(args)} left a listener`).toBe(false);
      expect(childListeners(), `${cmd} ${JSON.stringify(args)}`).toEqual([]);
      expect(pushers()).toBe(0);
      expect(state()).toBe(before);
    }
    expect(events.some((e) => e.type === 'live.started' || e.type === 'talk.started')).toBe(false);
  });

  it('a push with credentials: no log line, reply, event or state field holds them', async () => {
    // The sim board's factory defaults (its local receivers), set back locally.
    await booted.sup.config.patch({ live: { allowPlaintext: true, allowLocalTargets: true } }, 'test');
    const SECRETS = ['alice', 'S3cretPW', 'STREAMKEY', 'SRTPASSPHRASE42', 'TALKTOKEN'];
    const lines: LogLine[] = [];
    const unfollow = booted.sup.logging.ring.follow((l) => void lines.push(l));
    const mark = events.length;
    const replies: Reply[] = [];
    const states: string[] = [];
    try {
      // Nobody listens: ffmpeg fails and quotes the URL it failed on.
      const dead = await freePort('tcp');
      replies.push(await cloud('live.start', { lenses: ['wide'], url: `rtmp://alice:S3cretPW@127.0.0.1:${dead}/live/STREAMKEY`, audio: false }));
      expect(replies.at(-1)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      const deadUdp = await freePort('udp');
      replies.push(await cloud('live.start', { lenses: ['wide'], url: `srt://127.0.0.1:${deadUdp}?passphrase=SRTPASSPHRASE42&connect_timeout=500`, audio: false }));
      expect(replies.at(-1)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      replies.push(await cloud('talk.start', { url: `http://alice:S3cretPW@127.0.0.1:${dead}/voice.wav?token=TALKTOKEN` }));
      expect(replies.at(-1)).toMatchObject({ ok: false, error: { code: 'unavailable' } });

      // A push that works, and ends when the viewer goes away.
      const port = await freePort('tcp');
      const rx = new Receiver(`rtmp://127.0.0.1:${port}/live/STREAMKEY`, join(dir, 'rx-cred.ts'));
      receivers.push(rx);
      await waitListening(port, 'tcp');
      const url = `rtmp://alice:S3cretPW@127.0.0.1:${port}/live/STREAMKEY`;
      const ok = await cloud('live.start', { lenses: ['wide'], url, audio: true });
      replies.push(ok);
      expect(ok).toMatchObject({ ok: true, result: { url: `rtmp://***@127.0.0.1:${port}/live/***` } });
      states.push(JSON.stringify(booted.sup.state.get()));
      await waitUntil(() => existsSync(rx.file) && statSync(rx.file).size > 10_000, 'video at the receiver', 15_000);
      states.push(JSON.stringify(booted.sup.state.get()));
      await rx.kill();
      const ended = await waitUntil(() => events.slice(mark).find((e) => e.type === 'live.ended'), 'live.ended', 20_000);
      expect(ended.data).toMatchObject({ reason: 'ended' });
      states.push(JSON.stringify(booted.sup.state.get()));
    } finally {
      unfollow();
    }
    const logText = lines.map((l) => JSON.stringify(l));
    // What was looked at really holds the URLs: ffmpeg's own lines quoting them, redacted.
    expect(logText.some((l) => l.includes('child stderr') && l.includes(`rtmp://***@127.0.0.1:`))).toBe(true);
    expect(logText.some((l) => l.includes('live push started') && l.includes('/live/***'))).toBe(true);
    expect(JSON.stringify(replies)).toContain('srt://127.0.0.1:');
    const places: [string, string[]][] = [
      ['log lines', logText],
      ['replies', replies.map((r) => JSON.stringify(r))],
      ['events', events.slice(mark).map((e) => JSON.stringify(e))],
      ['state', states],
    ];
    for (const [where, texts] of places) {
      for (const secret of SECRETS) expect(texts.filter((t) => t.includes(secret)), `${secret} in ${where}`).toEqual([]);
    }
  });
});
