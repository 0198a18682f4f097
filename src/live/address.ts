import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';

/**
 * Where an IP address points, for the media URL policy's "local target" rule: anything that is
 * not the public internet. The camera must not be made to connect to its own loopback services
 * (the broker, the control plane), the owner's LAN, link-local metadata services or multicast
 * groups on a cloud caller's word (README "Media URLs").
 */
export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared (CGNAT)'
  | 'link-local'
  | 'multicast'
  | 'reserved';

type V4Range = [base: number, bits: number, cls: AddressClass];

const V4: V4Range[] = [
  [ip4(0, 0, 0, 0), 8, 'unspecified'], // "this network"; 0.0.0.0 connects to the host itself on Linux
  [ip4(127, 0, 0, 0), 8, 'loopback'],
  [ip4(10, 0, 0, 0), 8, 'private'],
  [ip4(172, 16, 0, 0), 12, 'private'],
  [ip4(192, 168, 0, 0), 16, 'private'],
  [ip4(100, 64, 0, 0), 10, 'shared (CGNAT)'],
  [ip4(169, 254, 0, 0), 16, 'link-local'],
  [ip4(192, 0, 0, 0), 24, 'reserved'], // IETF protocol assignments
  [ip4(198, 18, 0, 0), 15, 'reserved'], // benchmarking, used inside networks
  [ip4(224, 0, 0, 0), 4, 'multicast'],
  [ip4(240, 0, 0, 0), 4, 'reserved'], // includes the limited broadcast 255.255.255.255
];

function ip4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function classifyV4(n: number): AddressClass {
  for (const [base, bits, cls] of V4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if (((n & mask) >>> 0) === base) return cls;
  }
  return 'public';
}

function parseV4(s: string): number | undefined {
  if (isIP(s) !== 4) return undefined;
  const p = s.split('.').map(Number);
  return ip4(p[0]!, p[1]!, p[2]!, p[3]!);
}

/** 8 hextets of an IPv6 address (with or without a dotted IPv4 tail or zone), or undefined. */
export function parseV6(s: string): number[] | undefined {
  if (isIP(s) !== 6) return undefined;
  let text = s.toLowerCase().replace(/%.*$/, '');
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseV4(dotted[2]!)!;
    tail.push(v4 >>> 16, v4 & 0xffff);
    text = dotted[1]!.endsWith('::') ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const hex = (x: string): number[] => (x === '' ? [] : x.split(':').map((h) => parseInt(h, 16)));
  const parts = text.split('::');
  if (parts.length === 1) {
    const all = [...hex(parts[0]!), ...tail];
    return all.length === 8 ? all : undefined;
  }
  const left = hex(parts[0]!);
  const right = [...hex(parts[1]!), ...tail];
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function classifyV6(h: number[]): AddressClass {
  const embedded = (): number => ((h[6]! << 16) | h[7]!) >>> 0;
  const zeros = (n: number) => h.slice(0, n).every((x) => x === 0);
  if (zeros(8)) return 'unspecified';
  if (zeros(7) && h[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d): the kernel connects to the IPv4 address itself.
  if (zeros(5) && h[5] === 0xffff) return classifyV4(embedded());
  // NAT64 (64:ff9b::/96): the translator connects to the embedded IPv4 address.
  if (h[0] === 0x64 && h[1] === 0xff9b && h.slice(2, 6).every((x) => x === 0)) return classifyV4(embedded());
  // Local-use NAT64 (64:ff9b:1::/48) translates into the operator's own networks.
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 1) return 'private';
  // The rest of ::/8: IPv4-compatible (deprecated) and other reserved forms.
  if (h[0]! >> 8 === 0) return 'reserved';
  if ((h[0]! & 0xfe00) === 0xfc00) return 'private'; // unique local fc00::/7
  if ((h[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((h[0]! & 0xffc0) === 0xfec0) return 'private'; // site-local (deprecated)
  if (h[0]! >> 8 === 0xff) return 'multicast';
  return 'public';
}

/** The class of an IP address literal (IPv4, or IPv6 with or without brackets); undefined if it is none. */
export function classifyAddress(address: string): AddressClass | undefined {
  const a = address.replace(/^\[(.*)\]$/, '$1');
  const v4 = parseV4(a);
  if (v4 !== undefined) return classifyV4(v4);
  const v6 = parseV6(a);
  return v6 ? classifyV6(v6) : undefined;
}

export type Resolver = (host: string) => Promise<string[]>;

/** Every address the system resolver gives for a name: the same getaddrinfo ffmpeg calls. */
export const systemResolver: Resolver = async (host) => (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export const RESOLVE_TIMEOUT_MS = 5000;

/**
 * The addresses a URL host stands for: the literal itself, or every address the resolver gives
 * (ffmpeg may connect to any of them, so every one must pass). Rejects when the name does not
 * resolve or the resolver takes longer than `timeoutMs`.
 */
export async function resolveHost(host: string, resolver: Resolver = systemResolver, timeoutMs = RESOLVE_TIMEOUT_MS): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return [bare];
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      resolver(bare),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEOUT' })), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
