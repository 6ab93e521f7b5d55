import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { stringify } from 'yaml';
import { CertificateAuthenticator } from '../../../server/authn/certificate/authenticator.ts';
import { strongAltSecurityIdentities } from '../../../server/authn/certificate/mapping.ts';
import { parseCertificate } from '../../../server/authn/certificate/x509.ts';
import { certificateAuthSchema } from '../../../server/config/schema.ts';
import { EmbeddedDirectory, hashPassword } from '../../../server/directory/embedded.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { LogCapture } from '../../helpers/app.ts';
import { TestPki, type Leaf } from '../../helpers/pki.ts';

// Security corpus C6.7 (strong mapping, Certifried) and C6.8 (account state without a bind), against the embedded
// directory (tests/integration/certificate-ldap.test.ts runs the same rules against Samba AD).

const SID = (rid: number): string => `S-1-5-21-1004336348-1177238915-682003330-${rid}`;

describe('certificate → account mapping (KB5014754) and account state', () => {
  let pki: TestPki;
  let dir: EmbeddedDirectory;
  const logs = new LogCapture();
  let auth: CertificateAuthenticator;
  let weakAuth: CertificateAuthenticator;
  const leaves: Record<string, Leaf> = {};
  const attempt = { source: 'tls' as const, clientIp: '192.0.2.10', activityId: 'act-1' };

  before(async () => {
    pki = await TestPki.create();
    const issue = (name: string, opts: Parameters<TestPki['issue']>[1]): Leaf =>
      (leaves[name] = pki.issue(name, { cdp: [], ...opts }));
    issue('sid-alice', { sid: SID(1101), upn: 'alice@corp.test' });
    issue('sid-nobody', { sid: SID(9999) });
    issue('issuer-serial-bob', { subject: '/CN=Bob Smartcard' });
    issue('ski-carol', {});
    issue('thumb-dave', {});
    issue('pukey-dave', {});
    issue('upn-only-erin', { upn: 'erin@corp.test' });
    issue('upn-nobody', { upn: 'nobody@corp.test' });
    issue('certifried', { sid: SID(1101), upn: 'bob@corp.test' }); // attacker alice's SID, victim bob's UPN
    issue('alt-vs-sid', { sid: SID(1101) }); // SID says alice; altSecurityIdentities (below) says bob
    issue('sid-disabled', { sid: SID(1106) });
    issue('sid-locked', { sid: SID(1107) });
    issue('sid-expired', { sid: SID(1108) });
    issue('shared', {});
    const alt = (name: string): string[] =>
      strongAltSecurityIdentities(parseCertificate(leaves[name]!.der));
    const [issuerSerialBob] = alt('issuer-serial-bob');
    const ski = alt('ski-carol').find((v) => v.startsWith('X509:<SKI>'))!;
    const thumb = `X509:<SHA1-PUKEY>${leaves['thumb-dave']!.x509.fingerprint.replace(/:/g, '')}`;
    const pukey = alt('pukey-dave').filter((v) => v.startsWith('X509:<SHA1-PUKEY>'))[1]!;
    const shared = alt('shared').find((v) => v.startsWith('X509:<SKI>'))!;
    const hash = await hashPassword('Unused-Passw0rd!');
    const user = (sam: string, rid: number, extra: Record<string, unknown> = {}) => ({
      sAMAccountName: sam,
      userPrincipalName: `${sam}@corp.test`,
      objectGuid: `00000000-0000-4000-8000-00000000${String(rid).padStart(4, '0')}`,
      objectSid: SID(rid),
      passwordHash: hash,
      ...extra,
    });
    const file = join(pki.dir, 'users.yaml');
    writeFileSync(
      file,
      stringify({
        users: [
          user('alice', 1101),
          // Serial and issuer written the way an AD admin would, with the serial upper-case: AD matches
          // altSecurityIdentities case-insensitively.
          user('bob', 1102, {
            altSecurityIdentities: [
              issuerSerialBob!.replace(/<SR>(.*)$/, (_, s: string) => `<SR>${s.toUpperCase()}`),
              alt('alt-vs-sid').find((v) => v.startsWith('X509:<SKI>')),
            ],
          }),
          user('carol', 1103, { altSecurityIdentities: [ski, shared] }),
          user('dave', 1104, { altSecurityIdentities: [thumb, pukey] }),
          user('erin', 1105),
          user('frank', 1106, { enabled: false }),
          user('grace', 1107, { locked: true }),
          user('heidi', 1108, { accountExpires: '2020-01-01T00:00:00Z' }),
          user('ivan', 1109, { altSecurityIdentities: [shared] }),
        ],
      }),
    );
    const clock = new FixedClock(new Date());
    dir = new EmbeddedDirectory(
      { kind: 'embedded', file, netbiosDomain: 'CORP' },
      { logger: pino({ level: 'silent' }), clock, baseDir: pki.dir },
    );
    const cfg = (weak: boolean) =>
      certificateAuthSchema.parse({
        enabled: true,
        issuingCAs: [pki.issuing.certFile],
        caCertificates: [pki.root.certFile],
        allowWeakUpnMapping: weak,
        revocation: { mode: 'off' },
      });
    const deps = {
      directory: dir,
      clock,
      log: pino({ level: 'silent' }),
      audit: pino({ level: 'info' }, logs),
      baseDir: pki.dir,
    };
    auth = await CertificateAuthenticator.load(cfg(false), deps);
    weakAuth = await CertificateAuthenticator.load(cfg(true), deps);
  });
  after(async () => {
    await pki.close();
  });

  const run = (a: CertificateAuthenticator, name: string) =>
    a.authenticate(leaves[name]!.der, attempt);

  test('SID extension → the account with that objectSid (strong)', async () => {
    const r = await run(auth, 'sid-alice');
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.user.sAMAccountName, 'alice');
    assert.equal(r.mapping, 'sid');
    assert.equal(r.certificate.serialNumber, leaves['sid-alice']!.x509.serialNumber);
    assert.equal(r.certificate.thumbprint, leaves['sid-alice']!.x509.fingerprint.replace(/:/g, ''));
    assert.equal(r.certificate.issuer, 'CN=Corp Issuing CA, DC=corp, DC=example, DC=test');
    assert.equal(r.certificate.san, 'Other Name:Principal Name=alice@corp.test');
    assert.deepEqual(r.certificate.eku, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2']);
  });

  test('exact altSecurityIdentities values map: X509:<I>…<SR>…, X509:<SKI>…, X509:<SHA1-PUKEY>… (certificate hash and key hash)', async () => {
    for (const [name, sam] of [
      ['issuer-serial-bob', 'bob'],
      ['ski-carol', 'carol'],
      ['thumb-dave', 'dave'],
      ['pukey-dave', 'dave'],
    ] as const) {
      const r = await run(auth, name);
      assert.equal(r.ok ? r.user.sAMAccountName : r.reason, sam, name);
      assert.equal(r.ok ? r.mapping : '', 'altSecurityIdentities');
    }
  });

  test('the <SR> value is the serial with its bytes reversed and the issuer in X.500 order (what AD expects)', () => {
    const serial = leaves['issuer-serial-bob']!.x509.serialNumber; // big-endian hex, e.g. 2A00…12xx
    const reversed = Buffer.from(serial, 'hex').reverse().toString('hex');
    assert.ok(
      strongAltSecurityIdentities(parseCertificate(leaves['issuer-serial-bob']!.der)).includes(
        `X509:<I>DC=test,DC=example,DC=corp,CN=Corp Issuing CA<SR>${reversed}`,
      ),
    );
  });

  test('C6.7: UPN-only certificates are refused unless weak mapping is allowed, and then audited as weak', async () => {
    const strict = await run(auth, 'upn-only-erin');
    assert.equal(strict.ok ? 'ok' : strict.reason, 'no_strong_mapping');
    const weak = await run(weakAuth, 'upn-only-erin');
    assert.equal(weak.ok ? weak.user.sAMAccountName : weak.reason, 'erin');
    assert.equal(weak.ok ? weak.mapping : '', 'upn');
    const line = logs.events('signin').at(-1)!;
    assert.equal(line.weakMapping, true);
    assert.equal(line.outcome, 'success');
    const nobody = await run(weakAuth, 'upn-nobody');
    assert.equal(nobody.ok ? 'ok' : nobody.reason, 'no_mapping');
  });

  test('C6.7 Certifried: SID extension of one account with the UPN of another → refused', async () => {
    for (const a of [auth, weakAuth]) {
      const r = await run(a, 'certifried');
      assert.equal(r.ok ? 'ok' : r.reason, 'sid_upn_conflict');
    }
    const line = logs.events('signin').at(-1)!;
    assert.equal(line.outcome, 'failure');
    assert.equal(line.reason, 'sid_upn_conflict');
    assert.equal(line.thumbprint, leaves.certifried!.x509.fingerprint.replace(/:/g, ''));
  });

  test('C6.7: SID extension naming one account and altSecurityIdentities another → refused', async () => {
    const r = await run(auth, 'alt-vs-sid');
    assert.equal(r.ok ? 'ok' : r.reason, 'mapping_conflict');
  });

  test('C6.7: a SID that matches no account → refused, never a fallback to the UPN', async () => {
    const r = await run(weakAuth, 'sid-nobody');
    assert.equal(r.ok ? 'ok' : r.reason, 'sid_not_found');
  });

  test('one certificate mapped by two accounts → refused as ambiguous', async () => {
    const r = await run(auth, 'shared');
    assert.equal(r.ok ? 'ok' : r.reason, 'ambiguous');
  });

  test('C6.8: a mapped account that is disabled, locked or expired is refused', async () => {
    for (const [name, reason] of [
      ['sid-disabled', 'account_disabled'],
      ['sid-locked', 'account_locked'],
      ['sid-expired', 'account_expired'],
    ] as const) {
      const r = await run(auth, name);
      assert.equal(r.ok ? 'ok' : r.kind, 'account_unusable', name);
      assert.equal(r.ok ? 'ok' : r.reason, reason, name);
    }
  });

  test('C6.6: revocation status unknown → refused when fail-closed; accepted and audited with soft-fail', async () => {
    const leaf = pki.issue('sid-alice-cdp-down', {
      sid: SID(1101),
      cdp: ['http://127.0.0.1:9/down.crl'],
    });
    const load = (mode: 'require' | 'soft-fail') =>
      CertificateAuthenticator.load(
        certificateAuthSchema.parse({
          enabled: true,
          issuingCAs: [pki.issuing.certFile],
          caCertificates: [pki.root.certFile],
          // The issuing CA itself is checked against the root's CRL file; the user's CDP is down.
          revocation: { mode, crlFiles: [pki.root.crlFile], ocsp: false, timeoutMs: 500 },
        }),
        {
          directory: dir,
          clock: new FixedClock(new Date()),
          log: pino({ level: 'silent' }),
          audit: pino({ level: 'info' }, logs),
          baseDir: pki.dir,
        },
      );
    const closed = await (await load('require')).authenticate(leaf.der, attempt);
    assert.equal(closed.ok ? 'ok' : closed.kind, 'revocation_unavailable');
    const soft = await (await load('soft-fail')).authenticate(leaf.der, attempt);
    assert.equal(soft.ok ? soft.user.sAMAccountName : soft.reason, 'alice');
    const line = logs.events('revocation_soft_fail').at(-1)!;
    assert.equal(line.thumbprint, leaf.x509.fingerprint.replace(/:/g, ''));
    assert.match(String(line.detail), /down\.crl/);
  });

  test('garbage bytes are refused as malformed and audited', async () => {
    const r = await auth.authenticate(Buffer.from('not a certificate'), attempt);
    assert.equal(r.ok ? 'ok' : r.kind, 'malformed');
    assert.equal(logs.events('signin').at(-1)!.kind, 'malformed');
  });
});
