// insidecorporatenetwork from config.corporateNetworks (lib/ip.ts): the entry syntax of listen.trustedProxies
// (addresses, CIDR ranges, loopback / linklocal / uniquelocal), IPv4 and IPv6, IPv4-mapped IPv6 in both spellings.
// Every "inside" case has an "outside" twin next to it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressRanges, insideCorporateNetwork } from '../../../server/lib/ip.ts';

const inside = (nets: string[], ip: string | undefined): boolean =>
  insideCorporateNetwork({ corporateNetworks: nets }, ip);

test('IPv4 ranges and single addresses', () => {
  const nets = ['10.0.0.0/8', '192.0.2.7', '198.51.100.0/25'];
  assert.equal(inside(nets, '10.200.3.4'), true);
  assert.equal(inside(nets, '11.0.0.1'), false);
  assert.equal(inside(nets, '192.0.2.7'), true);
  assert.equal(inside(nets, '192.0.2.8'), false);
  assert.equal(inside(nets, '198.51.100.127'), true);
  assert.equal(inside(nets, '198.51.100.128'), false, 'just past the /25');
});

test('IPv6 ranges and addresses; case and zone index do not matter', () => {
  const nets = ['2001:db8:1::/48', '2001:db8:ffff::1'];
  assert.equal(inside(nets, '2001:db8:1:abcd::5'), true);
  assert.equal(inside(nets, '2001:DB8:1::5'), true);
  assert.equal(inside(nets, '2001:db8:2::5'), false);
  assert.equal(inside(nets, '2001:db8:ffff::1'), true);
  assert.equal(inside(nets, '2001:db8:ffff::2'), false);
  assert.equal(inside(['fe80::/10'], 'fe80::1%eth0'), true);
  assert.equal(inside(['fe80::/64'], 'fe80:0:0:1::1%eth0'), false);
});

test('IPv4-mapped IPv6 (dual-stack sockets) is judged as the IPv4 address, in either spelling', () => {
  const nets = ['10.0.0.0/8'];
  assert.equal(inside(nets, '::ffff:10.1.2.3'), true);
  assert.equal(inside(nets, '::FFFF:10.1.2.3'), true);
  assert.equal(inside(nets, '::ffff:a01:203'), true, 'hex spelling of ::ffff:10.1.2.3');
  assert.equal(inside(nets, '0:0:0:0:0:ffff:0a01:0203'), true);
  assert.equal(inside(nets, '::ffff:11.1.2.3'), false);
  assert.equal(inside(nets, '::ffff:b01:203'), false);
  // Not mapped: an IPv4-compatible or NAT64 address is another address.
  assert.equal(inside(nets, '64:ff9b::a01:203'), false);
});

test('range names as in listen.trustedProxies', () => {
  assert.equal(inside(['loopback'], '127.0.0.1'), true);
  assert.equal(inside(['loopback'], '::1'), true);
  assert.equal(inside(['loopback'], '128.0.0.1'), false);
  assert.equal(inside(['uniquelocal'], '172.16.0.1'), true);
  assert.equal(inside(['uniquelocal'], '172.32.0.1'), false);
  assert.equal(inside(['uniquelocal'], 'fd12::1'), true);
  assert.equal(inside(['uniquelocal'], 'fe12::1'), false);
  assert.equal(inside(['LinkLocal'], '169.254.1.1'), true);
  assert.equal(inside(['linklocal'], '169.253.1.1'), false);
});

test('no ranges, no address or a malformed one: outside (AD FS: every request through the proxy)', () => {
  assert.equal(inside([], '10.1.2.3'), false);
  assert.equal(inside(['10.0.0.0/8'], undefined), false);
  assert.equal(inside(['10.0.0.0/8'], ''), false);
  assert.equal(inside(['10.0.0.0/8'], '10.1.2.3.4'), false);
  assert.equal(inside(['10.0.0.0/8'], 'not an address'), false);
  assert.equal(inside(['0.0.0.0/0'], '[10.1.2.3]'), false);
});

test('an entry that is no address or range is refused when compiled', () => {
  assert.throws(() => new AddressRanges(['10.0.0.0/33']), /prefix/);
  assert.throws(() => new AddressRanges(['intranet']), /not an IP address/);
  assert.equal(new AddressRanges([' 10.0.0.0/8 ']).has('10.0.0.1'), true);
});
