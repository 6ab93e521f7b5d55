// listen.trustedProxies accepts what Express's `trust proxy` accepts (IP, CIDR, and the range names loopback,
// linklocal, uniquelocal) and nothing else, so `fedgate check` refuses a typo instead of startup failing later;
// the certificate-header reader, which inherits that list, trusts exactly the same peers (a named range used to
// make it throw at startup). The peers are checked with node's own address parsing through the reader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Request } from 'express';
import { resolveConfig } from '../../../server/config/load.ts';
import { ProxyCertificateReader, proxyRanges } from '../../../server/http/client-certificate.ts';

const peer = (remoteAddress: string): Request =>
  ({ socket: { remoteAddress }, rawHeaders: [] }) as unknown as Request;

test('the certificate reader inheriting named ranges trusts exactly those peers', () => {
  const reader = new ProxyCertificateReader(
    { header: 'X-SSL-Client-Cert', verifyHeader: 'X-SSL-Client-Verify', format: 'nginx' },
    ['loopback', 'uniquelocal'],
  );
  for (const ip of [
    '127.0.0.1',
    '127.8.9.10',
    '::1',
    '::ffff:127.0.0.1',
    '10.1.2.3',
    '172.31.0.1',
    '192.168.5.5',
    'fd00::1',
  ])
    assert.equal(reader.trustedPeer(peer(ip)), true, ip);
  for (const ip of ['128.0.0.1', '172.32.0.1', '8.8.8.8', '2001:db8::1', '169.254.1.1'])
    assert.equal(reader.trustedPeer(peer(ip)), false, ip);
  assert.deepEqual(proxyRanges(['linklocal', '203.0.113.7']), [
    '169.254.0.0/16',
    'fe80::/10',
    '203.0.113.7',
  ]);
});

test('configuration accepts IP, CIDR and the named ranges, and refuses anything else by path', () => {
  const cfg = (trustedProxies: string[]) =>
    resolveConfig(
      { listen: { port: 0, tls: 'off', trustedProxies } },
      { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
    );
  assert.deepEqual(
    cfg(['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback']).listen.trustedProxies,
    ['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback'],
  );
  for (const bad of ['localhost', '10.0.0.0/33', '10.0.0.1/abc', 'lb.corp.test', '*'])
    assert.throws(() => cfg([bad]), /listen\.trustedProxies/, bad);
});
