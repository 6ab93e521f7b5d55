import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Jar, M365, formAction, hidden } from '../helpers/app.ts';
import {
  HOSTNAME,
  certificateLink,
  errorPage,
  send,
  startCertAuthServer,
  takeCookies,
  type CertAuthServer,
  type Reply,
} from '../helpers/certauth.ts';
import { TestPki, type Leaf } from '../helpers/pki.ts';
import {
  readBinaryAttributeWithCli,
  readObjectGuidWithCli,
  sambaEnv,
  type SambaEnv,
} from '../helpers/samba.ts';
import { sidToString } from '../../server/directory/guid.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifySaml2ResponseWithXmlCrypto,
  verifySaml2WithXmlsec1,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

// Certificate (smartcard) sign-in end to end on real sockets: the sign-in page's "Sign in with a certificate" link,
// a real TLS client presenting the certificate to the certificate listener, the way back to the main host, and the
// token verified by xml-crypto (certificate pinned from metadata) and xmlsec1. Then every C6 case against the same
// listener: each refused with a page that says why, with an activity id and nothing internal.

const TLSCLIENT = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient';
const CLAIMS = {
  upn: 'http://schemas.xmlsoap.org/claims/UPN',
  immutableId: 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  serial: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/serialnumber',
  issuer: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/issuer',
  amr: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
};

function sidOf(env: SambaEnv, user: 'cert1' | 'certoff1'): string {
  const raw = readBinaryAttributeWithCli(env, user, 'objectSid');
  return sidToString(raw ?? Buffer.alloc(0)) ?? '';
}

describe('certificate sign-in through the certificate listener (real TLS client, Samba AD)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let srv: CertAuthServer;
  let signingCert: string;
  const leaves: Record<string, Leaf> = {};
  const main = (path: string): string => `http://127.0.0.1${path}`;

  before(async () => {
    env = sambaEnv();
    pki = await TestPki.create();
    const day = 86_400_000;
    const cert1 = { sid: sidOf(env, 'cert1'), upn: env.users.cert1.upn };
    const issue = (name: string, opts: Parameters<TestPki['issue']>[1]) =>
      (leaves[name] = pki.issue(name, opts));
    issue('cert1', cert1);
    issue('untrusted', { ...cert1, issuer: pki.otherIssuing });
    issue('expired', {
      ...cert1,
      notBefore: new Date(Date.now() - 400 * day),
      notAfter: new Date(Date.now() - 40 * day),
    });
    issue('future', { ...cert1, notBefore: new Date(Date.now() + 5 * day) });
    issue('server-eku', { ...cert1, eku: 'serverAuth' });
    issue('email-eku', { ...cert1, eku: 'emailProtection' });
    issue('ca-cert', { ...cert1, ca: true, keyUsage: 'critical,digitalSignature,keyCertSign' });
    issue('from-root', { ...cert1, issuer: pki.root });
    issue('revoked', cert1);
    issue('cdp-down', { ...cert1, cdp: ['http://127.0.0.1:9/issuing.crl'] });
    issue('certifried', { sid: cert1.sid, upn: env.users.cert2.upn });
    issue('disabled', { sid: sidOf(env, 'certoff1') });
    issue('upn-only', { upn: env.users.cert4.upn });
    pki.revoke(leaves.revoked!);
    pki.crl(pki.issuing);
    pki.crl(pki.root);
    srv = await startCertAuthServer(pki, env, {
      certificateAuth: {
        proxy: { header: 'X-SSL-Client-Cert', format: 'nginx', trustedProxies: ['127.0.0.2'] },
      },
    });
    const md = await send(main('/FederationMetadata/2007-06/FederationMetadata.xml'), srv.mainPort);
    signingCert = certFromMetadata(md.body)[0]!;
  });
  after(async () => {
    await srv.close();
    await pki.close();
  });

  /** Opens the WS-Fed sign-in page for Microsoft 365; returns the jar and the certificate link. */
  async function begin(query = `wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`) {
    const jar = new Jar();
    const page = await send(main(`/adfs/ls/?${query}`), srv.mainPort);
    takeCookies(jar, page);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return { jar, page: page.body, link: certificateLink(page.body) };
  }

  /** The certificate leg with a real TLS client certificate (or none). */
  function certLeg(link: string, cert: Leaf | undefined, extra: Parameters<typeof send>[2] = {}) {
    return send(link, srv.certPort, {
      ca: srv.ca,
      ...(cert === undefined ? {} : { cert }),
      ...extra,
    });
  }

  async function complete(jar: Jar, location: string): Promise<Reply> {
    const u = new URL(location);
    const r = await send(main(u.pathname + u.search), srv.mainPort, { cookie: jar.header() });
    takeCookies(jar, r);
    return r;
  }

  function assertRefused(r: Reply, status: number, message: RegExp): void {
    assert.equal(r.status, status, r.body.slice(0, 400));
    const page = errorPage(r);
    assert.match(page.message, message);
    assert.match(page.activityId ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(r.body.includes(page.activityId ?? 'missing'), 'activity id on the page');
    assert.doesNotMatch(r.body, /\bat [\w.<>]+ \(|Error:|node_modules|LdapErr|S-1-5-21|ldaps:/);
    assert.equal(r.headers.location, undefined);
  }

  test('the sign-in page offers "Sign in with a certificate", pointing at the certificate listener with the pending request', async () => {
    const { link, page } = await begin();
    const u = new URL(link);
    assert.equal(u.origin, `https://${HOSTNAME}:${srv.certPort}`);
    assert.equal(u.pathname, '/adfs/ls/certauth');
    assert.equal(u.searchParams.get('AuthState'), hidden(page, 'AuthState'));
  });

  test('WS-Fed: smartcard certificate (SID extension) → Microsoft 365 token for cert1, verified by xml-crypto and xmlsec1', async () => {
    const { jar, link } = await begin();
    const leg = await certLeg(link, leaves.cert1);
    assert.equal(leg.status, 302, leg.body.slice(0, 300));
    const location = leg.headers.location ?? '';
    assert.match(
      location,
      /^https:\/\/sts\.fedgate\.test\/adfs\/ls\/certauth\/complete\?CertResult=/,
    );
    const done = await complete(jar, location);
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.equal(formAction(done.body), 'https://login.microsoftonline.com/login.srf');
    const assertion = extractAssertionFromRstr(hidden(done.body, 'wresult'));
    const xmlsec = verifyWithXmlsec1(assertion, signingCert, SAML11_ID_ATTR);
    assert.equal(xmlsec.ok, true, xmlsec.output);
    const claims = verifySaml11WithXmlCrypto(assertion, signingCert);
    const guid = readObjectGuidWithCli(env, 'cert1').toString('base64');
    assert.equal(claims.nameIdentifier, guid);
    assert.deepEqual(claims.attributes[CLAIMS.immutableId], [guid]);
    assert.deepEqual(claims.attributes[CLAIMS.upn], [env.users.cert1.upn]);
    assert.equal(claims.authMethod, TLSCLIENT);
    assert.deepEqual(claims.attributes[CLAIMS.amr], [TLSCLIENT]);
    // Entra needs these two for certificate sign-ins through a federation server (revocation on its side).
    assert.deepEqual(claims.attributes[CLAIMS.serial], [leaves.cert1!.x509.serialNumber]);
    assert.deepEqual(claims.attributes[CLAIMS.issuer], [
      'CN=Corp Issuing CA, DC=corp, DC=example, DC=test',
    ]);
    const audit = srv.logs
      .events('signin')
      .filter((l) => l.method === 'certificate' && l.outcome === 'success');
    assert.equal(audit.at(-1)?.thumbprint, leaves.cert1!.x509.fingerprint.replace(/:/g, ''));
    const issued = srv.logs.events('token_issued').at(-1)!;
    assert.equal(issued.method, TLSCLIENT);

    // SSO: the session remembers the certificate sign-in (method and certificate claims) for the next token.
    const again = await send(
      main(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`),
      srv.mainPort,
      {
        cookie: jar.header(),
      },
    );
    const second = verifySaml11WithXmlCrypto(
      extractAssertionFromRstr(hidden(again.body, 'wresult')),
      signingCert,
    );
    assert.equal(second.authMethod, TLSCLIENT);
    assert.deepEqual(second.attributes[CLAIMS.serial], [leaves.cert1!.x509.serialNumber]);
  });

  test('SAML 2.0: AuthnRequest asking for X509 (exact) → certificate only → Response with AuthnContextClassRef X509', async () => {
    const request =
      `<samlp:AuthnRequest ID="_cert${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}"` +
      ' xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">' +
      `<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">${M365}</Issuer>` +
      '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>' +
      // Only a certificate satisfies this: the page offers no password form.
      '<samlp:RequestedAuthnContext Comparison="exact"><AuthnContextClassRef xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:oasis:names:tc:SAML:2.0:ac:classes:X509</AuthnContextClassRef></samlp:RequestedAuthnContext>' +
      '</samlp:AuthnRequest>';
    const jar = new Jar();
    const page = await send(main('/adfs/ls/'), srv.mainPort, {
      method: 'POST',
      body: new URLSearchParams({
        SAMLRequest: Buffer.from(request).toString('base64'),
      }).toString(),
    });
    takeCookies(jar, page);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assert.doesNotMatch(page.body, /name="Password"/);
    const leg = await certLeg(certificateLink(page.body), leaves.cert1);
    assert.equal(leg.status, 302);
    const done = await complete(jar, leg.headers.location ?? '');
    assert.equal(done.status, 200, done.body.slice(0, 300));
    const response = Buffer.from(hidden(done.body, 'SAMLResponse'), 'base64').toString('utf8');
    const xmlsec = verifySaml2WithXmlsec1(response, signingCert, 'assertion');
    assert.equal(xmlsec.ok, true, xmlsec.output);
    const r = verifySaml2ResponseWithXmlCrypto(response, signingCert, {
      assertionSigned: true,
      responseSigned: false,
    });
    assert.equal(r.assertion.authnContextClassRef, 'urn:oasis:names:tc:SAML:2.0:ac:classes:X509');
    assert.equal(r.assertion.nameId, readObjectGuidWithCli(env, 'cert1').toString('base64'));
    assert.deepEqual(r.assertion.attributes.find((a) => a.name === 'IDPEmail')?.values, [
      env.users.cert1.upn,
    ]);
  });

  test('the result handle is one-time and works only in the browser that started the sign-in', async () => {
    const { jar, link } = await begin();
    const leg = await certLeg(link, leaves.cert1);
    const location = leg.headers.location ?? '';
    // Another browser (no sign-in cookie) with the leaked result handle gets nothing.
    const stranger = await complete(new Jar(), location);
    assert.equal(stranger.status, 403);
    assert.doesNotMatch(stranger.body, /wresult/);
    assert.equal(srv.logs.events('csrf_rejected').at(-1)?.method, 'certificate');
    // The handle was consumed by that attempt: the right browser must start over too.
    const replay = await complete(jar, location);
    assert.equal(replay.status, 400);
    assert.doesNotMatch(replay.body, /wresult/);
  });

  test('wauth=tlsclient: certificate only (no password form, a password post refused); SSO only from a certificate session', async () => {
    const query = (wauth: string): string =>
      `wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}&wauth=${encodeURIComponent(wauth)}`;
    const { jar, page, link } = await begin(query(TLSCLIENT));
    assert.doesNotMatch(page, /name="Password"|id="loginForm"/);
    // A client that posts a password anyway (CSRF token taken from the store, as a forger at best could) is refused.
    const stateId = new URL(link).searchParams.get('AuthState') ?? '';
    const pending = await srv.running.services.store.find<{ csrf: string }>(
      'pendingSignIn',
      stateId,
    );
    assert.ok(pending !== undefined);
    const post = await send(main('/adfs/ls/'), srv.mainPort, {
      method: 'POST',
      cookie: jar.header(),
      body: new URLSearchParams({
        AuthState: stateId,
        csrf: pending.csrf,
        UserName: env.users.cert1.upn,
        Password: env.users.cert1.password,
      }).toString(),
    });
    assertRefused(post, 400, /requires signing in with a certificate/);
    // The certificate leg of the same request works.
    const leg = await certLeg(link, leaves.cert1);
    const done = await complete(jar, leg.headers.location ?? '');
    const claims = verifySaml11WithXmlCrypto(
      extractAssertionFromRstr(hidden(done.body, 'wresult')),
      signingCert,
    );
    assert.equal(claims.authMethod, TLSCLIENT);

    // With that certificate session: wauth=tlsclient is answered by SSO; wauth=password asks for a password
    // (the page has no certificate link, and the certificate leg refuses that request).
    const sso = await send(main(`/adfs/ls/?${query(TLSCLIENT)}`), srv.mainPort, {
      cookie: jar.header(),
    });
    assert.ok(hidden(sso.body, 'wresult').length > 0);
    const pw = await send(
      main(`/adfs/ls/?${query('urn:oasis:names:tc:SAML:1.0:am:password')}`),
      srv.mainPort,
      { cookie: jar.header() },
    );
    assert.equal(pw.status, 200);
    assert.match(pw.body, /name="Password"/);
    assert.doesNotMatch(pw.body, /wresult|certificateLink/);
    const pwState = hidden(pw.body, 'AuthState');
    const refused = await certLeg(
      `https://${HOSTNAME}:${srv.certPort}/adfs/ls/certauth?AuthState=${pwState}`,
      leaves.cert1,
    );
    assertRefused(refused, 400, /requires signing in with a password/);
  });

  describe('C6 negative cases against the real TLS listener', () => {
    const cases: [string, keyof typeof leaves | undefined, number, RegExp, string][] = [
      [
        'no certificate presented',
        undefined,
        401,
        /No certificate was presented/,
        'no_certificate',
      ],
      [
        'C6.4 certificate from an unknown CA (look-alike name)',
        'untrusted',
        401,
        /not issued by a certification authority this service trusts/,
        'untrusted_issuer',
      ],
      [
        'C6.4 certificate issued by the root, not an issuing CA',
        'from-root',
        401,
        /not issued by a certification authority/,
        'untrusted_issuer',
      ],
      ['C6.4 expired certificate', 'expired', 401, /has expired/, 'expired'],
      ['C6.4 not-yet-valid certificate', 'future', 401, /not valid yet/, 'not_yet_valid'],
      [
        'C6.5 TLS server certificate presented as a client certificate',
        'server-eku',
        401,
        /not meant for signing in/,
        'eku',
      ],
      ['C6.5 e-mail-only certificate', 'email-eku', 401, /not meant for signing in/, 'eku'],
      ['C6.5 CA certificate', 'ca-cert', 401, /not meant for signing in/, 'not_end_entity'],
      [
        'C6.6 revoked certificate (CRL from the CDP)',
        'revoked',
        401,
        /has been revoked/,
        'revoked',
      ],
      [
        'C6.6 revocation cannot be checked: fail closed',
        'cdp-down',
        503,
        /revocation status of your certificate cannot be checked/,
        'revocation_unknown',
      ],
      [
        'C6.7 Certifried: SID of cert1, UPN of cert2',
        'certifried',
        401,
        /not linked to an account that can sign in/,
        'sid_upn_conflict',
      ],
      [
        'C6.7 UPN-only certificate with weak mapping off',
        'upn-only',
        401,
        /not linked to an account that can sign in/,
        'no_strong_mapping',
      ],
      [
        'C6.8 disabled account (certoff1)',
        'disabled',
        401,
        /not linked to an account that can sign in/,
        'account_disabled',
      ],
    ];
    for (const [name, leaf, status, message, reason] of cases) {
      test(name, async () => {
        const { link } = await begin();
        const r = await certLeg(link, leaf === undefined ? undefined : leaves[leaf]);
        assertRefused(r, status, message);
        const line = srv.logs.events('signin').at(-1)!;
        assert.equal(line.outcome, 'failure');
        assert.equal(line.activityId, r.headers['x-activity-id']);
        assert.equal(line.reason ?? line.kind, reason);
      });
    }

    test('C6.1 a certificate header sent to the TLS listener is ignored (and audited); only the handshake counts', async () => {
      const { link } = await begin();
      const spoofed = encodeURIComponent(leaves.cert1!.certPem);
      const r = await certLeg(link, undefined, {
        headers: { 'X-SSL-Client-Cert': spoofed, 'X-SSL-Client-Verify': 'SUCCESS' },
      });
      assertRefused(r, 401, /No certificate was presented/);
      assert.equal(
        srv.logs.events('certificate_header_ignored').at(-1)?.activityId,
        r.headers['x-activity-id'],
      );
    });

    test('C6.1 the same header sent straight to the main listener from an address that is not a trusted proxy is ignored', async () => {
      const { page } = await begin();
      const r = await send(
        main(`/adfs/ls/certauth?AuthState=${hidden(page, 'AuthState')}`),
        srv.mainPort,
        {
          localAddress: '127.0.0.1',
          headers: {
            'X-SSL-Client-Cert': encodeURIComponent(leaves.cert1!.certPem),
            'X-SSL-Client-Verify': 'SUCCESS',
          },
        },
      );
      assertRefused(r, 401, /No certificate was presented/);
      const ignored = srv.logs.events('certificate_header_ignored').at(-1)!;
      assert.equal(ignored.reason, 'peer is not a trusted proxy');
      assert.equal(ignored.activityId, r.headers['x-activity-id']);
    });

    test('an unknown or used-up AuthState gets the expired page, not a certificate prompt result', async () => {
      const r = await certLeg(
        `https://${HOSTNAME}:${srv.certPort}/adfs/ls/certauth?AuthState=AAAAAAAAAAAAAAAAAAAAAA`,
        leaves.cert1,
      );
      assertRefused(r, 400, /sign-in page expired/);
    });
  });
});
