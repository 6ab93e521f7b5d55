/**
 * IP address helpers shared by the account-protection code (authn/lockout.ts, authn/spray.ts) and the edge
 * (http/client-certificate.ts). Pure: node:net only, nothing of ours (architecture.md, lib/ rule).
 */
import { BlockList, isIP } from 'node:net';

/** Canonical text of an address (IPv4-mapped IPv6 folded to IPv4) so one client is one location. */
export function canonicalIp(ip: string): string {
  const v = ip.trim().toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v);
  return mapped?.[1] ?? v;
}

/** Parses a list of addresses / CIDR ranges; throws on the first entry that is neither (config check). */
export function parseAddressList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const addr = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new Error(`"${raw}" is not an IP address or CIDR range`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash < 0) {
      list.addAddress(addr, type);
      continue;
    }
    const prefix = Number(entry.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
      throw new Error(`"${raw}" has an invalid prefix length`);
    list.addSubnet(addr, prefix, type);
  }
  return list;
}

/**
 * The range names Express's `trust proxy` (proxy-addr) accepts, as CIDR ranges. listen.trustedProxies and
 * corporateNetworks share one entry syntax (config/schema.ts proxyEntry), so both expand them the same way.
 */
export const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
});

/** Entries (IP, CIDR or a range name) as IP/CIDR ranges, range names expanded. */
export function expandRanges(entries: readonly string[]): string[] {
  return entries.flatMap((e) => NAMED_RANGES[e.trim().toLowerCase()] ?? [e]);
}

/**
 * An address as BlockList checks it, or undefined when it is none: IPv4-mapped IPv6 in either spelling
 * (::ffff:10.1.2.3, ::ffff:a01:203) folded to IPv4, so an IPv4 range matches a client on a dual-stack socket; a
 * zone index (fe80::1%eth0) dropped.
 */
function checkable(ip: string): { addr: string; type: 'ipv4' | 'ipv6' } | undefined {
  let v = canonicalIp(ip);
  const zone = v.indexOf('%');
  if (zone >= 0) v = v.slice(0, zone);
  const family = isIP(v);
  if (family === 4) return { addr: v, type: 'ipv4' };
  if (family !== 6) return undefined;
  // WHATWG URL serialises IPv6 compressed and lower-case, so every spelling of a mapped address ends up as
  // ::ffff:hhhh:hhhh (RFC 5952 §4, with the embedded IPv4 in hex).
  const compressed = new URL(`http://[${v}]/`).hostname.slice(1, -1);
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (hex !== null) {
    const hi = parseInt(hex[1] ?? '0', 16);
    const lo = parseInt(hex[2] ?? '0', 16);
    return { addr: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, type: 'ipv4' };
  }
  return { addr: v, type: 'ipv6' };
}

/** A compiled list of addresses and ranges (IP, CIDR, loopback / linklocal / uniquelocal). */
export class AddressRanges {
  readonly #list: BlockList;
  readonly empty: boolean;

  /** Throws on the first entry that is neither an address, a range nor a range name (config check). */
  constructor(entries: readonly string[]) {
    this.#list = parseAddressList(expandRanges(entries));
    this.empty = entries.length === 0;
  }

  /** Whether `ip` is inside one of the ranges; an empty or malformed address never is. */
  has(ip: string | undefined): boolean {
    if (this.empty || ip === undefined) return false;
    const a = checkable(ip);
    return a !== undefined && this.#list.check(a.addr, a.type);
  }
}

/** One compiled list per (frozen) configuration array: the check runs per request. */
const corporate = new WeakMap<readonly string[], AddressRanges>();

/**
 * insidecorporatenetwork for a client address (the address after trusted proxies, Express's req.ip): true when
 * it is inside config.corporateNetworks. AD FS says true for a request that did not come through its Web
 * Application Proxy (entra-protocol.md §1.6 [CAP]); fedgate has no proxy of its own, so the admin names the
 * intranet ranges instead. No ranges configured: every request is extranet (false), as through AD FS's proxy.
 * Takes the configuration structurally so lib/ imports nothing of ours.
 */
export function insideCorporateNetwork(
  config: { readonly corporateNetworks: readonly string[] },
  clientIp: string | undefined,
): boolean {
  const entries = config.corporateNetworks;
  let ranges = corporate.get(entries);
  if (ranges === undefined) {
    ranges = new AddressRanges(entries);
    corporate.set(entries, ranges);
  }
  return ranges.has(clientIp);
}
