import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../../server/config/load.ts';

function tmpFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cfg-'));
  const p = join(dir, 'fedgate.yaml');
  writeFileSync(p, text);
  return p;
}

test('no file: embedded defaults', () => {
  const c = loadConfig({ env: {}, cwd: '/srv/x' });
  assert.equal(c.embeddedDefaults, true);
  assert.equal(c.hostname, 'localhost');
  assert.equal(c.listen.port, 8443);
  assert.equal(c.issuerUri, 'http://localhost/adfs/services/trust');
  assert.equal(c.publicUrl, 'https://localhost:8443');
  assert.equal(c.directory.kind, 'embedded');
  assert.equal(c.store.kind, 'memory');
  assert.equal(c.keys.dir, '/srv/x/keys');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.listen));
});

test('the documented example file parses with the documented key names', () => {
  const p = tmpFile(`
hostname: sts.corp.example.test
issuerUri: http://sts.corp.example.test/adfs/services/trust
listen: { port: 443, tls: { cert: tls.crt, key: tls.key } }
keys: { dir: ./keys }
directory:
  kind: ldap
  urls: [ldaps://dc1.corp.example.test, ldaps://dc2.corp.example.test]
  baseDn: DC=corp,DC=example,DC=test
  bindDn: CN=svc-fedgate,CN=Users,DC=corp,DC=example,DC=test
  bindPassword: secret
  netbiosDomain: CORP
  tls: { ca: dc-ca.pem }
store: { kind: memory }
`);
  const c = loadConfig({ file: p, env: {} });
  assert.equal(c.embeddedDefaults, false);
  assert.equal(c.publicUrl, 'https://sts.corp.example.test');
  assert.equal(c.directory.kind, 'ldap');
  assert.equal(c.directory.urls.length, 2);
  assert.ok(c.keys.dir.endsWith('/keys') && c.keys.dir.startsWith('/'));
});

test('FEDGATE_CONFIG names the file; env overrides win, case-insensitively, with lists split on commas', () => {
  const p = tmpFile('hostname: a.example.test\nlisten: { port: 9443 }\n');
  const c = loadConfig({
    env: {
      FEDGATE_CONFIG: p,
      FEDGATE_HOSTNAME: 'b.example.test',
      FEDGATE_LISTEN__PORT: '10443',
      FEDGATE_LISTEN__TLS: 'off',
      FEDGATE_LISTEN__TRUSTEDPROXIES: '10.0.0.0/8, 192.0.2.1',
    },
  });
  assert.equal(c.hostname, 'b.example.test');
  assert.equal(c.listen.port, 10443);
  assert.equal(c.listen.tls, 'off');
  assert.deepEqual(c.listen.trustedProxies, ['10.0.0.0/8', '192.0.2.1']);
  assert.equal(
    c.publicUrl,
    'https://b.example.test',
    'TLS off: the public URL is the load balancer’s https URL',
  );
});

test('every problem is reported by path', () => {
  const p = tmpFile(`
hostname: "bad host"
listen: { port: 70000, tls: maybe }
directory: { kind: ldap, urls: [ldap://dc1], baseDn: x, bindDn: y, bindPassword: z, netbiosDomain: CORP }
unknownKey: 1
`);
  try {
    loadConfig({ file: p, env: { FEDGATE_NOPE: '1' } });
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    assert.match(text, /^hostname: /m);
    assert.match(text, /^listen\.port: /m);
    assert.match(text, /^listen\.tls: /m);
    assert.match(text, /^directory\.urls\.0: must be an ldaps:\/\/ URL/m);
    assert.match(text, /unknownKey/);
    assert.match(text, /FEDGATE_NOPE: no configuration key/);
  }
});

test('unreadable file and invalid YAML are clear errors', () => {
  assert.throws(
    () => loadConfig({ file: '/nonexistent/fedgate.yaml', env: {} }),
    /cannot read: ENOENT/,
  );
  const p = tmpFile('hostname: [unclosed\n');
  assert.throws(() => loadConfig({ file: p, env: {} }), /\(yaml\)/);
  const dup = tmpFile('hostname: a\nhostname: b\n');
  assert.throws(() => loadConfig({ file: dup, env: {} }), /\(yaml\)/);
});
