/**
 * AD CS's default CRL distribution point, ldap:///CN=<CA>,CN=<host>,CN=CDP,CN=Public Key Services,…, read from the
 * real Samba AD DC: the test publishes the issuing CA's CRL on a cRLDistributionPoint entry (ldapadd as
 * Administrator, as AD CS does), and the certificate check reads it over the directory's LDAPS connection. A good
 * certificate passes, a revoked one is refused, and ldap: URLs naming a host or an entry outside the CDP
 * container are never followed (fail closed: revocation unknown).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { CertificateAuthenticator } from '../../server/authn/certificate/authenticator.ts';
import { ldapCdpDn } from '../../server/authn/certificate/revocation.ts';
import { certificateAuthSchema } from '../../server/config/schema.ts';
import { sidToString } from '../../server/directory/guid.ts';
import { LdapDirectory } from '../../server/directory/ldap.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { TestPki, type Leaf } from '../helpers/pki.ts';
import {
  readBinaryAttributeWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';

const CDP_CONTAINER = 'CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration';

function ldapAsAdmin(
  env: SambaEnv,
  tool: 'ldapadd' | 'ldapmodify' | 'ldapdelete',
  input: string,
  args: string[] = [],
): void {
  execFileSync(
    tool,
    [
      '-x',
      '-c',
      '-H',
      env.urls[0] ?? '',
      '-D',
      env.adminDn,
      '-y',
      join(env.stateDir, 'admin.pw'),
      ...args,
    ],
    {
      input,
      env: { ...process.env, LDAPTLS_CACERT: env.caFile, LDAPTLS_REQCERT: 'demand' },
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
}

describe('ldap:/// CRL distribution points read from Active Directory (Samba AD DC)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let dir: LdapDirectory;
  let auth: CertificateAuthenticator;
  let hostDn: string;
  let cdpDn: string;
  const leaves: Record<string, Leaf> = {};
  const attempt = { source: 'tls' as const, clientIp: '198.51.100.5', activityId: 'ldap-cdp' };

  before(async () => {
    env = sambaEnv();
    pki = await TestPki.create();
    hostDn = `CN=fedgate-cdp-test,${CDP_CONTAINER},${env.baseDn}`;
    cdpDn = `CN=Corp Issuing CA,${hostDn}`;
    // Percent-encoded in full: openssl's config splits crlDistributionPoints at commas (RFC 4516 allows %2C).
    const url = (dn: string, host = ''): string =>
      `ldap://${host}/${encodeURIComponent(dn)}?certificateRevocationList?base?objectClass=cRLDistributionPoint`;
    const sid =
      sidToString(readBinaryAttributeWithCli(env, 'cert1', 'objectSid') ?? Buffer.alloc(0)) ?? '';
    leaves.good = pki.issue('ldap-good', { sid, cdp: [url(cdpDn)] });
    leaves.revoked = pki.issue('ldap-revoked', { sid, cdp: [url(cdpDn)] });
    leaves.withHost = pki.issue('ldap-host', { sid, cdp: [url(cdpDn, 'evil.example')] });
    leaves.outside = pki.issue('ldap-outside', { sid, cdp: [url(`CN=Users,${env.baseDn}`)] });
    pki.revoke(leaves.revoked);
    pki.crl(pki.issuing);
    pki.crl(pki.root);
    const der = readFileSync(fileURLToPath(pki.fileCdp(pki.issuing)));
    // Publish it the way AD CS does (a container per CA host, a cRLDistributionPoint per CA).
    try {
      ldapAsAdmin(env, 'ldapdelete', '', ['-r', hostDn]); // left over from an interrupted run
    } catch {
      /* no such entry: the usual case */
    }
    ldapAsAdmin(
      env,
      'ldapadd',
      [
        `dn: ${hostDn}`,
        'objectClass: container',
        '',
        `dn: ${cdpDn}`,
        'objectClass: cRLDistributionPoint',
        `certificateRevocationList:: ${der.toString('base64')}`,
        '',
      ].join('\n'),
    );
    dir = new LdapDirectory(sambaLdapConfig(env), {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir: '/',
    });
    auth = await CertificateAuthenticator.load(
      certificateAuthSchema.parse({
        enabled: true,
        issuingCAs: [pki.issuing.certFile],
        caCertificates: [pki.root.certFile],
        // The issuing CA's own status comes from the root's CRL file; the leaves' only from their ldap: CDP.
        revocation: { crlFiles: [pki.root.crlFile], fetchCdp: true, ocsp: false },
      }),
      {
        directory: dir,
        clock: systemClock,
        log: pino({ level: 'silent' }),
        audit: pino({ level: 'silent' }),
        baseDir: '/',
      },
    );
  });
  after(async () => {
    ldapAsAdmin(env, 'ldapdelete', '', ['-r', hostDn]);
    await dir.close();
    await pki.close();
  });

  test('the CRL published in AD decides: a good certificate signs in, a revoked one is refused', async () => {
    const good = await auth.authenticate(leaves.good!.der, attempt);
    assert.equal(good.ok ? good.user.sAMAccountName : good.detail, 'cert1');
    const revoked = await auth.authenticate(leaves.revoked!.der, attempt);
    assert.equal(revoked.ok ? 'ok' : revoked.kind, 'revoked');
  });

  test('an ldap: URL with a host, or naming an entry outside the CDP container, is never read (fail closed)', async () => {
    for (const name of ['withHost', 'outside'] as const) {
      const r = await auth.authenticate(leaves[name]!.der, attempt);
      assert.equal(r.ok ? 'ok' : r.reason, 'revocation_unknown', name);
    }
    // The URL forms themselves.
    const dn = `CN=CA,CN=host,${CDP_CONTAINER},DC=corp,DC=example,DC=test`;
    assert.equal(
      ldapCdpDn(`ldap:///${dn}?certificateRevocationList?base?objectClass=cRLDistributionPoint`),
      dn,
    );
    assert.equal(ldapCdpDn(`ldap:///${dn}?certificateRevocationList;binary`), dn);
    assert.equal(ldapCdpDn(`ldap://dc1/${dn}?certificateRevocationList?base`), undefined);
    assert.equal(ldapCdpDn(`ldap:///${dn}?userPassword?base`), undefined);
    assert.equal(ldapCdpDn(`ldap:///${dn}?certificateRevocationList?sub`), undefined);
    assert.equal(
      ldapCdpDn(`ldap:///CN=x,CN=Users,DC=corp,DC=example,DC=test?certificateRevocationList`),
      undefined,
    );
  });
});
