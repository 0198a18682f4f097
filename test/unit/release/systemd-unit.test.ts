import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../../harness/boot.js';

const SYSTEMD = join(REPO, 'scripts/systemd');
const UNIT = readFileSync(join(SYSTEMD, 'camd.service'), 'utf8');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const hasSysusers = spawnSync('systemd-sysusers', ['--version']).status === 0;

/** key -> every value it is given in [Service] (systemd keys may repeat). */
function section(name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let inside = false;
  for (const raw of UNIT.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inside = line === `[${name}]`;
    else if (inside && line && !line.startsWith('#')) {
      const i = line.indexOf('=');
      const key = line.slice(0, i);
      out.set(key, [...(out.get(key) ?? []), line.slice(i + 1)]);
    }
  }
  return out;
}
const svc = section('Service');
const one = (key: string): string | undefined => svc.get(key)?.at(-1);

/** A throwaway root: the unit, an executable ExecStart and the distro's own units for verify. */
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'camd-unit-'));
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  mkdirSync(join(root, 'opt/camd/current/bin'), { recursive: true });
  for (const u of ['camd.service', 'camd-format-card.service']) cpSync(join(SYSTEMD, u), join(root, 'etc/systemd/system', u));
  for (const b of ['sbin/mkfs.vfat', 'bin/mount', 'bin/umount']) {
    mkdirSync(join(root, dirname(b)), { recursive: true });
    writeFileSync(join(root, b), '#!/bin/sh\n');
    chmodSync(join(root, b), 0o755);
  }
  writeFileSync(join(root, 'opt/camd/current/bin/camd'), '#!/bin/sh\n');
  chmodSync(join(root, 'opt/camd/current/bin/camd'), 0o755);
  if (existsSync('/usr/lib/systemd/system')) {
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('camd.service', () => {
  it.skipIf(!hasAnalyze)('passes systemd-analyze verify without a single warning (and so does camd-format-card)', () => {
    for (const unit of ['camd.service', 'camd-format-card.service']) {
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, unit], { encoding: 'utf8' });
      expect(r.stderr.trim(), unit).toBe('');
      expect(r.status, unit).toBe(0);
    }
  });

  it.skipIf(!hasAnalyze)('keeps systemd-analyze security exposure low (below 3.0, "OK")', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--no-pager', 'camd.service'], { encoding: 'utf8' });
    const m = /Overall exposure level for camd\.service: ([\d.]+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(3);
  });

  it('is a notify service with a watchdog that never restarts on a bad board file', () => {
    expect(one('Type')).toBe('notify');
    // systemd-notify is a child of the daemon, so the unit must accept notifications from children.
    expect(one('NotifyAccess')).toBe('all');
    expect(Number.parseInt(one('WatchdogSec') ?? '0', 10)).toBeGreaterThanOrEqual(10);
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')?.split(/\s+/)).toContain('78');
    expect(one('StandardOutput')).toBe('journal');
    expect(one('StandardError')).toBe('journal');
  });

  it('runs as its own user with only the device groups and no privileges', () => {
    expect(one('User')).toBe('camd');
    expect(one('SupplementaryGroups')?.split(/\s+/).sort()).toEqual(['audio', 'dialout', 'gpio', 'i2c', 'video']);
    expect(one('NoNewPrivileges')).toBe('yes');
    // The one capability: the network service rewrites default-route metrics with `ip route`.
    expect(one('CapabilityBoundingSet')).toBe('CAP_NET_ADMIN');
    expect(one('AmbientCapabilities')).toBe('CAP_NET_ADMIN');
    expect(readFileSync(join(REPO, 'src/network/link-linux.ts'), 'utf8')).toContain("'route', 'replace'");
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    // GPIO is the character device (gpiod backend): /sys read-only, /dev/gpiochip* allowed;
    // /dev stays visible for GPIO/I2C/UART/video/audio.
    expect(one('ProtectKernelTunables')).toBe('yes');
    expect(svc.get('DeviceAllow')).toContain('char-gpiochip rw');
    expect(svc.has('PrivateDevices')).toBe(false);
  });

  it('may write only where the daemon is told to keep data, its socket, the card and the release tree', () => {
    const exec = one('ExecStart') ?? '';
    const flag = (f: string): string | undefined => new RegExp(`${f} (\\S+)`).exec(exec)?.[1];
    expect(flag('--data-dir')).toBe(`/var/lib/${one('StateDirectory')}`);
    expect(flag('--run-dir')).toBe(`/run/${one('RuntimeDirectory')}`);
    expect(one('RuntimeDirectoryMode')).toBe('0700');
    // /opt/camd: over-the-air updates and the boot guard's rollback switch `current` there.
    expect(svc.get('ReadWritePaths')?.flatMap((v) => v.split(/\s+/)).map((p) => p.replace(/^-/, ''))).toEqual([flag('--card-dir'), '/opt/camd']);
  });

  it('runs the boot guard from outside the releases before every start, never blocking it', () => {
    // "-": a failing or missing guard does not stop the start; it lives in /opt/camd/bin, not in a release.
    expect(svc.get('ExecStartPre')).toEqual(['-/opt/camd/bin/camd-boot-guard --base /opt/camd']);
    expect(one('ExecStart')).toMatch(/^\/opt\/camd\/current\/bin\/camd /);
    // A dangling `current` must not fail the guard's own chdir before it can repair the link.
    expect(one('WorkingDirectory')).toBe('-/opt/camd/current');
    expect(readFileSync(join(REPO, 'scripts/release/board/camd-setup-board'), 'utf8')).toContain('"$base/bin/camd-boot-guard"');
  });

  it('opens no listener: outbound families only, every bind refused', () => {
    expect(one('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    expect(one('SocketBindDeny')).toBe('any');
    expect(svc.has('SocketBindAllow')).toBe(false);
  });
});

describe('camd.sysusers', () => {
  it.skipIf(!hasSysusers)('creates user camd in exactly the unit\'s supplementary groups', () => {
    const r = spawnSync('systemd-sysusers', [`--root=${root}`, join(SYSTEMD, 'camd.sysusers')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^camd:x:\d+:\d+:camd camera daemon:\/var\/lib\/camd:\/usr\/sbin\/nologin$/m);
    const groups = readFileSync(join(root, 'etc/group'), 'utf8')
      .split('\n')
      .filter((l) => l.split(':')[3]?.split(',').includes('camd'))
      .map((l) => l.split(':')[0])
      .sort();
    expect(groups).toEqual(one('SupplementaryGroups')?.split(/\s+/).sort());
  });
});

describe('camd.polkit.rules', () => {
  type Action = { id: string; lookup(key: string): string | undefined };
  type Rule = (action: Action, subject: { user: string }) => string;
  const Result = { YES: 'yes', NO: 'no', NOT_HANDLED: 'not-handled' };
  let rule: Rule | undefined;
  runInNewContext(readFileSync(join(SYSTEMD, 'camd.polkit.rules'), 'utf8'), {
    polkit: { Result, addRule: (f: Rule) => (rule = f) },
  });

  it('lets camd reboot, talk to NetworkManager and start the card formatter, and nothing else, and nobody else', () => {
    expect(rule).toBeTypeOf('function');
    const ask = (user: string, id: string, details: Record<string, string> = {}): string => rule!({ id, lookup: (k) => details[k] }, { user });
    expect(ask('camd', 'org.freedesktop.login1.reboot')).toBe(Result.YES);
    expect(ask('camd', 'org.freedesktop.NetworkManager.settings.modify.system')).toBe(Result.YES);
    expect(ask('camd', 'org.freedesktop.login1.power-off')).toBe(Result.NOT_HANDLED);
    expect(ask('camd', 'org.freedesktop.systemd1.manage-units')).toBe(Result.NOT_HANDLED);
    expect(ask('www-data', 'org.freedesktop.login1.reboot')).toBe(Result.NOT_HANDLED);
    // Formatting the card: start that one unit, nothing more.
    const units = 'org.freedesktop.systemd1.manage-units';
    expect(ask('camd', units, { unit: 'camd-format-card.service', verb: 'start' })).toBe(Result.YES);
    expect(ask('camd', units, { unit: 'camd-format-card.service', verb: 'stop' })).toBe(Result.NOT_HANDLED);
    expect(ask('camd', units, { unit: 'ssh.service', verb: 'start' })).toBe(Result.NOT_HANDLED);
    expect(ask('www-data', units, { unit: 'camd-format-card.service', verb: 'start' })).toBe(Result.NOT_HANDLED);
  });
});
