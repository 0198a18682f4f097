import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DBusError, interface as dbusInterface, Message, sessionBus, type Interface, type MessageBus, type Variant } from '@jellybrick/dbus-next';
import { AC_STATE, DEVICE_FAILED, DEVICE_REASON } from '../../src/network/wifi-nm-dbus.js';

/**
 * A private D-Bus daemon started by the test (never the machine's system bus), and a scripted
 * NetworkManager on it, exported with the library's own service side: the methods the join
 * calls, and the StateChanged signals NetworkManager sends while a connection activates.
 */

export interface PrivateBus {
  address: string;
  proc: ChildProcess;
  stop(): Promise<void>;
  /** Unique and well-known names on the bus now (to see that no client was left connected). */
  names(): Promise<string[]>;
}

export async function startPrivateBus(): Promise<PrivateBus> {
  const dir = mkdtempSync(join(tmpdir(), 'camd-dbus-'));
  const config = join(dir, 'bus.conf');
  // The least a bus needs: one socket in our own folder, EXTERNAL auth (our uid), anyone may own
  // and call anything (there is no one else on it).
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${join(dir, 'bus')}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
  );
  // --session and --config-file cannot be combined (dbus-daemon refuses a second config): the
  // file's <type>session</type> gives the session bus semantics.
  const proc = spawn('dbus-daemon', ['--print-address', '--nofork', `--config-file=${config}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(line.trim());
    });
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.once('exit', (code) => reject(new Error(`dbus-daemon exited ${code}: ${err}`)));
    proc.once('error', reject);
  });
  const names = async (): Promise<string[]> => {
    const bus = sessionBus({ busAddress: address });
    try {
      const reply = await bus.call(new Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'ListNames' }));
      return (reply?.body[0] as string[]).filter((n) => n !== 'org.freedesktop.DBus' && n !== bus.name);
    } finally {
      bus.disconnect();
    }
  };
  return {
    address,
    proc,
    names,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Scenario = 'activated' | 'wrong-password' | 'no-network' | 'silent';

type Settings = Record<string, Record<string, Variant>>;

const DEVICE_PATH = '/org/freedesktop/NetworkManager/Devices/3';

/**
 * The library's Interface constructor defines own `$methods`/`$signals`/`$properties` fields
 * (undefined), which hide what `configureMembers` put on the prototype: without removing them
 * every exported method answers UnknownMethod. Only the service side (this fake) needs this.
 */
function unshadow(iface: Interface): void {
  for (const k of ['$properties', '$methods', '$signals'] as const) if (Object.hasOwn(iface, k) && iface[k] === undefined) delete iface[k];
}

class ActiveConnection extends dbusInterface.Interface {
  state: number = AC_STATE.activating;
  constructor() {
    super('org.freedesktop.NetworkManager.Connection.Active');
    unshadow(this);
  }
  StateChanged(state: number, reason: number): [number, number] {
    this.state = state;
    return [state, reason];
  }
}
ActiveConnection.configureMembers({ signals: { StateChanged: { signature: 'uu' } } });

class Device extends dbusInterface.Interface {
  constructor() {
    super('org.freedesktop.NetworkManager.Device');
    unshadow(this);
  }
  StateChanged(next: number, old: number, reason: number): [number, number, number] {
    return [next, old, reason];
  }
}
Device.configureMembers({ signals: { StateChanged: { signature: 'uuu' } } });

class SettingsConnection extends dbusInterface.Interface {
  constructor(
    private readonly nm: FakeNetworkManager,
    public settings: Settings,
  ) {
    super('org.freedesktop.NetworkManager.Settings.Connection');
    unshadow(this);
  }
  GetSettings(): Settings {
    // Like NetworkManager: never the secrets.
    const { '802-11-wireless-security': sec, ...rest } = this.settings;
    const { psk: _psk, ...noSecret } = sec ?? {};
    return sec ? { ...rest, '802-11-wireless-security': noSecret } : rest;
  }
  Update(settings: Settings): void {
    this.nm.calls.push({ member: 'Update', settings });
    this.settings = settings;
  }
}
SettingsConnection.configureMembers({ methods: { GetSettings: { outSignature: 'a{sa{sv}}' }, Update: { inSignature: 'a{sa{sv}}' } } });

class SettingsIface extends dbusInterface.Interface {
  constructor(private readonly nm: FakeNetworkManager) {
    super('org.freedesktop.NetworkManager.Settings');
    unshadow(this);
  }
  ListConnections(): string[] {
    return [...this.nm.profiles.keys()];
  }
}
SettingsIface.configureMembers({ methods: { ListConnections: { outSignature: 'ao' } } });

class NmIface extends dbusInterface.Interface {
  constructor(private readonly nm: FakeNetworkManager) {
    super('org.freedesktop.NetworkManager');
    unshadow(this);
  }
  GetDeviceByIpIface(iface: string): string {
    this.nm.calls.push({ member: 'GetDeviceByIpIface', iface });
    if (iface !== this.nm.iface) throw new DBusError('org.freedesktop.NetworkManager.UnknownDevice', 'No device found for the requested iface.');
    return DEVICE_PATH;
  }
  AddAndActivateConnection(settings: Settings, device: string, specific: string): [string, string] {
    this.nm.calls.push({ member: 'AddAndActivateConnection', settings, device, specific });
    const profile = this.nm.addProfile(settings);
    return [profile, this.nm.activate()];
  }
  ActivateConnection(profile: string, device: string, specific: string): string {
    this.nm.calls.push({ member: 'ActivateConnection', profile, device, specific });
    return this.nm.activate();
  }
  DeactivateConnection(active: string): void {
    this.nm.calls.push({ member: 'DeactivateConnection', active });
  }
}
NmIface.configureMembers({
  methods: {
    GetDeviceByIpIface: { inSignature: 's', outSignature: 'o' },
    AddAndActivateConnection: { inSignature: 'a{sa{sv}}oo', outSignature: 'oo' },
    ActivateConnection: { inSignature: 'ooo', outSignature: 'o' },
    DeactivateConnection: { inSignature: 'o' },
  },
});

export interface NmCall {
  member: string;
  settings?: Settings;
  [k: string]: unknown;
}

export class FakeNetworkManager {
  readonly calls: NmCall[] = [];
  readonly profiles = new Map<string, SettingsConnection>();
  scenario: Scenario = 'activated';
  private readonly device = new Device();
  private next = 1;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly bus: MessageBus,
    readonly iface: string,
  ) {}

  static async start(address: string, iface = 'wlan0'): Promise<FakeNetworkManager> {
    const bus = sessionBus({ busAddress: address });
    const nm = new FakeNetworkManager(bus, iface);
    bus.export('/org/freedesktop/NetworkManager', new NmIface(nm));
    bus.export('/org/freedesktop/NetworkManager/Settings', new SettingsIface(nm));
    bus.export(DEVICE_PATH, nm.device);
    await bus.requestName('org.freedesktop.NetworkManager', 0);
    return nm;
  }

  addProfile(settings: Settings): string {
    const path = `/org/freedesktop/NetworkManager/Settings/${this.next++}`;
    const conn = new SettingsConnection(this, settings);
    this.profiles.set(path, conn);
    this.bus.export(path, conn);
    return path;
  }

  /** A new ActiveConnection whose states follow the scenario, as NetworkManager sends them. */
  activate(): string {
    const path = `/org/freedesktop/NetworkManager/ActiveConnection/${this.next++}`;
    const ac = new ActiveConnection();
    this.bus.export(path, ac);
    const steps: (() => void)[] = [() => ac.StateChanged(AC_STATE.activating, 0)];
    const fail = (deviceReason: number, acReason: number): void => {
      steps.push(() => this.device.StateChanged(DEVICE_FAILED, 50, deviceReason));
      steps.push(() => ac.StateChanged(AC_STATE.deactivated, acReason));
    };
    if (this.scenario === 'activated') steps.push(() => ac.StateChanged(AC_STATE.activated, 0));
    else if (this.scenario === 'wrong-password') fail(DEVICE_REASON.noSecrets, 9);
    else if (this.scenario === 'no-network') fail(DEVICE_REASON.ssidNotFound, 3);
    // 'silent': stays activating; the backend's own deadline must end the wait.
    steps.forEach((step, i) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        step();
      }, 20 * (i + 1));
      this.timers.add(t);
    });
    return path;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.bus.disconnect();
  }
}

/** The settings dict a join sent, as plain values. */
export function plain(settings: Settings | undefined): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [group, entries] of Object.entries(settings ?? {})) {
    out[group] = Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Buffer.isBuffer(v.value) ? v.value.toString('utf8') : v.value]));
  }
  return out;
}
