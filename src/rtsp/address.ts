import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { NetworkSummary } from '../state/store.js';

/** The wildcard addresses: listening there opens the stream on every interface, VPNs included. */
export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export type BindChoice = { address: string; source: 'config' | 'link'; wildcard: boolean } | { address: undefined; reason: string };

/**
 * Where the RTSP server listens: the owner's `rtsp.bindAddress` when set (a wildcard only then,
 * and flagged so the service says so in the log), otherwise the IPv4 address of the network link
 * the default route uses now (state.network.active → its interface). Never a wildcard by
 * default: without a link address there is no server.
 */
export function chooseBindAddress(bindAddress: string, network: Readonly<NetworkSummary>, ifaces = networkInterfaces()): BindChoice {
  if (bindAddress) {
    if (!isIP(bindAddress)) return { address: undefined, reason: `rtsp.bindAddress ${bindAddress} is not an IP address` };
    return { address: bindAddress, source: 'config', wildcard: isWildcard(bindAddress) };
  }
  const active = network.active;
  if (!active) return { address: undefined, reason: 'no active network link' };
  const link = active === 'wired' ? network.wired : network.wifi;
  if (!link) return { address: undefined, reason: `the ${active} link is not known yet` };
  const fromKernel = (ifaces[link.iface] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
  const wiredAddr = active === 'wired' ? network.wired?.address ?? undefined : undefined;
  const address = fromKernel ?? wiredAddr;
  if (!address || isWildcard(address)) return { address: undefined, reason: `${link.iface} has no IPv4 address` };
  return { address, source: 'link', wildcard: false };
}
