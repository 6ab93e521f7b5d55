/**
 * lib/ip.ts: the address helpers behind smart lockout's locations (C1.5), banned ranges (C1.10) and the
 * certificate reader's trusted proxies (C6.2). One client must be one location whatever form its address
 * arrives in, and a range list in the configuration is refused at start with a message naming the entry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, parseAddressList } from '../../../server/lib/ip.ts';

test('canonicalIp folds an IPv4-mapped IPv6 address to IPv4, so one client is one location', () => {
  assert.equal(canonicalIp('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(canonicalIp('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(canonicalIp(' 192.0.2.7 '), '192.0.2.7');
  assert.equal(canonicalIp('2001:DB8::1'), '2001:db8::1');
  // Only a whole dotted quad after ::ffff: is a mapped IPv4 address.
  assert.equal(canonicalIp('::ffff:10.1.2'), '::ffff:10.1.2');
  assert.equal(canonicalIp('::ffff:10.1.2.3:1'), '::ffff:10.1.2.3:1');
  assert.equal(canonicalIp(''), '');
});

test('parseAddressList: single addresses and CIDR ranges, IPv4 and IPv6', () => {
  const list = parseAddressList(['192.0.2.7', ' 10.1.0.0/16 ', '2001:db8::/32', '::1']);
  const has = (ip: string) => list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
  assert.equal(has('192.0.2.7'), true);
  assert.equal(has('192.0.2.8'), false);
  assert.equal(has('10.1.0.0'), true);
  assert.equal(has('10.1.255.255'), true);
  assert.equal(has('10.2.0.0'), false);
  assert.equal(has('2001:db8:ffff::1'), true);
  assert.equal(has('2001:db9::1'), false);
  assert.equal(has('::1'), true);
  assert.equal(has('::2'), false);
  const empty = parseAddressList([]);
  assert.equal(empty.check('10.1.2.3', 'ipv4'), false);
});

test('parseAddressList refuses an entry that is not an address, naming it', () => {
  for (const bad of ['not-an-ip', 'host.example', '10.0.0', '10.0.0.0.0/8', '/8', ''])
    assert.throws(() => parseAddressList(['10.0.0.0/8', bad]), {
      message: `"${bad}" is not an IP address or CIDR range`,
    });
});

test('parseAddressList refuses a prefix length out of range for the family, naming the entry', () => {
  for (const bad of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/8.5', '10.0.0.0/x', '2001:db8::/129'])
    assert.throws(() => parseAddressList([bad]), {
      message: `"${bad}" has an invalid prefix length`,
    });
  // The largest prefix of each family is a single address.
  assert.equal(parseAddressList(['10.0.0.1/32']).check('10.0.0.1', 'ipv4'), true);
  assert.equal(parseAddressList(['2001:db8::1/128']).check('2001:db8::1', 'ipv6'), true);
});
