import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { CertificateAuthenticator } from '../../server/authn/certificate/authenticator.ts';
import { certificateAuthSchema } from '../../server/config/schema.ts';
import { sidToString } from '../../server/directory/guid.ts';
import { LdapDirectory } from '../../server/directory/ldap.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { LogCapture } from '../helpers/app.ts';
import { TestPki, type Leaf } from '../helpers/pki.ts';
import {
  readBinaryAttributeWithCli,
  readObjectGuidWithCli,
  replaceAttributeWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
  type SambaUserName,
} from '../helpers/samba.ts';

// Certificate mapping against the real Samba AD DC (security-corpus C6.7, C6.8): SIDs read with ldapsearch,
// altSecurityIdentities written with ldapmodify as Administrator, account state from AD itself (certoff1 is disabled,
// locked1 is locked by samba.sh on every run, acctexpired1's accountExpires has passed). This is the only test file
// that writes altSecurityIdentities (cert2, cert3); others use the SID extension.

function sidOf(env: SambaEnv, user: SambaUserName): string {
  const raw = readBinaryAttributeWithCli(env, user, 'objectSid');
  const sid = raw === undefined ? undefined : sidToString(raw);
  if (sid === undefined) throw new Error(`no objectSid for ${user}`);
  return sid;
}

/** The issuer/serial mapping the way an administrator computes it: openssl's serial, bytes reversed. */
function issuerSerialMapping(leaf: Leaf): string {
  const out = execFileSync('openssl', ['x509', '-noout', '-serial', '-in', leaf.certFile], {
    encoding: 'utf8',
  });
  const hex = /serial=([0-9A-F]+)/.exec(out)?.[1] ?? '';
  const reversed = (hex.match(/../g) ?? []).reverse().join('');
  return `X509:<I>DC=test,DC=example,DC=corp,CN=Corp Issuing CA<SR>${reversed}`;
}

function skiMapping(leaf: Leaf): string {
  const out = execFileSync(
    'openssl',
    ['x509', '-noout', '-ext', 'subjectKeyIdentifier', '-in', leaf.certFile],
    { encoding: 'utf8' },
  );
  const ski = (out.split('\n')[1] ?? '').trim().replace(/:/g, '');
  return `X509:<SKI>${ski}`;
}

describe('certificate mapping against Active Directory (Samba AD DC)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let dir: LdapDirectory;
  let strict: CertificateAuthenticator;
  let weak: CertificateAuthenticator;
  const logs = new LogCapture();
  const leaves: Record<string, Leaf> = {};
  const attempt = { source: 'tls' as const, clientIp: '198.51.100.4', activityId: 'ldap-cert' };

  before(async () => {
    env = sambaEnv();
    pki = await TestPki.create();
    const upn = (u: SambaUserName): string => env.users[u].upn;
    const issue = (name: string, opts: Parameters<TestPki['issue']>[1]) =>
      (leaves[name] = pki.issue(name, opts));
    issue('cert1-sid', { sid: sidOf(env, 'cert1'), upn: upn('cert1') });
    issue('cert2-issuer-serial', { subject: '/CN=cert2 smartcard' });
    issue('cert3-ski', {});
    issue('cert3-thumbprint', {});
    issue('cert4-upn', { upn: upn('cert4') });
    issue('certoff1-sid', { sid: sidOf(env, 'certoff1') });
    issue('locked1-sid', { sid: sidOf(env, 'locked1') });
    issue('acctexpired1-sid', { sid: sidOf(env, 'acctexpired1') });
    // Certifried: attacker cert1's SID, victim cert2's UPN.
    issue('certifried', { sid: sidOf(env, 'cert1'), upn: upn('cert2') });
    issue('cert2-upn-strong', { upn: upn('cert2') });
    pki.revoke(issue('cert1-revoked', { sid: sidOf(env, 'cert1') }));
    pki.crl(pki.issuing);
    pki.crl(pki.root);
    replaceAttributeWithCli(env, 'cert2', 'altSecurityIdentities', [
      issuerSerialMapping(leaves['cert2-issuer-serial']!),
      // A weak form (subject only) is ignored: it must never map anything.
      'X509:<S>CN=cert2-upn-strong',
    ]);
    replaceAttributeWithCli(env, 'cert3', 'altSecurityIdentities', [
      skiMapping(leaves['cert3-ski']!),
      `X509:<SHA1-PUKEY>${leaves['cert3-thumbprint']!.x509.fingerprint.replace(/:/g, '')}`,
    ]);
    dir = new LdapDirectory(sambaLdapConfig(env), {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir: '/',
    });
    const cfg = (allowWeakUpnMapping: boolean) =>
      certificateAuthSchema.parse({
        enabled: true,
        issuingCAs: [pki.issuing.certFile],
        caCertificates: [pki.root.certFile],
        allowWeakUpnMapping,
        revocation: {
          crlFiles: [pki.issuing.crlFile, pki.root.crlFile],
          fetchCdp: false,
          ocsp: false,
        },
      });
    const deps = {
      directory: dir,
      clock: systemClock,
      log: pino({ level: 'silent' }),
      audit: pino({ level: 'info' }, logs),
      baseDir: '/',
    };
    strict = await CertificateAuthenticator.load(cfg(false), deps);
    weak = await CertificateAuthenticator.load(cfg(true), deps);
  });
  after(async () => {
    replaceAttributeWithCli(env, 'cert2', 'altSecurityIdentities', []);
    replaceAttributeWithCli(env, 'cert3', 'altSecurityIdentities', []);
    await dir.close();
    await pki.close();
  });

  const run = (a: CertificateAuthenticator, name: string) =>
    a.authenticate(leaves[name]!.der, attempt);

  test('SID extension → the account whose objectSid it is (ImmutableID source = that objectGUID)', async () => {
    const r = await run(strict, 'cert1-sid');
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.user.sAMAccountName, 'cert1');
    assert.equal(r.mapping, 'sid');
    assert.deepEqual(r.user.objectGuid, readObjectGuidWithCli(env, 'cert1'));
  });

  test('altSecurityIdentities X509:<I>…<SR>… (written by ldapmodify) maps cert2', async () => {
    const r = await run(strict, 'cert2-issuer-serial');
    assert.equal(r.ok ? r.user.sAMAccountName : r.reason, 'cert2');
    assert.equal(r.ok ? r.mapping : '', 'altSecurityIdentities');
  });

  test('altSecurityIdentities X509:<SKI>… and X509:<SHA1-PUKEY>… map cert3', async () => {
    for (const name of ['cert3-ski', 'cert3-thumbprint']) {
      const r = await run(strict, name);
      assert.equal(r.ok ? r.user.sAMAccountName : r.reason, 'cert3', name);
    }
  });

  test('C6.7: a weak altSecurityIdentities form (X509:<S>) maps nothing; the UPN alone only with weak mapping on', async () => {
    const r = await run(strict, 'cert2-upn-strong');
    assert.equal(r.ok ? 'ok' : r.reason, 'no_strong_mapping');
    const s = await run(strict, 'cert4-upn');
    assert.equal(s.ok ? 'ok' : s.reason, 'no_strong_mapping');
    const w = await run(weak, 'cert4-upn');
    assert.equal(w.ok ? w.user.sAMAccountName : w.reason, 'cert4');
    assert.equal(w.ok ? w.mapping : '', 'upn');
  });

  test('C6.7 Certifried: SID of cert1 with the UPN of cert2 → refused (strict and weak policy)', async () => {
    for (const a of [strict, weak]) {
      const r = await run(a, 'certifried');
      assert.equal(r.ok ? 'ok' : r.reason, 'sid_upn_conflict');
    }
  });

  test('C6.8: account state is read from AD: disabled (certoff1), locked (locked1), expired (acctexpired1)', async () => {
    for (const [name, reason] of [
      ['certoff1-sid', 'account_disabled'],
      ['locked1-sid', 'account_locked'],
      ['acctexpired1-sid', 'account_expired'],
    ] as const) {
      const r = await run(strict, name);
      assert.equal(r.ok ? 'ok' : r.reason, reason, name);
    }
  });

  test('C6.6: a revoked certificate never reaches the directory', async () => {
    const r = await run(strict, 'cert1-revoked');
    assert.equal(r.ok ? 'ok' : r.kind, 'revoked');
    const line = logs.events('signin').at(-1)!;
    assert.equal(line.kind, 'revoked');
    assert.equal(line.objectGuid, undefined);
  });
});
