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
