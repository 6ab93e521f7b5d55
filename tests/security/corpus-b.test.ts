import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import request from 'supertest';
import { createCertificateApp } from '../../server/app.ts';
import { adminModify, spyOnDirectory } from '../helpers/account-protection.ts';
import { Jar, M365, formAction, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';
import { TestPki } from '../helpers/pki.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  parseStrict,
  verifySaml11WithXmlCrypto,
  verifySaml2ResponseWithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';
import {
  ALICE,
  EMAIL,
  authnRequestXml,
  b64,
  postAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { buildRst, rstHeaders, V13, V2005, type Version } from '../fixtures/wstrust/rst.ts';

// Security corpus B cases that had no test, or only part of one: B4.5 (endpoints not published), B5.2 (ImmutableID
// from an immutable attribute; no foreign IssuerID), B5.4 (MFA claims only after MFA). Each test names its case id;
// docs/security.md maps every id to its test. Tokens are read only through the independent verifiers
// (xml-crypto and xmlsec1 with the certificate pinned from metadata).

const CLAIM = {
  amr: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  immutableId: 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  upn: 'http://schemas.xmlsoap.org/claims/UPN',
};
const PASSWORD_METHOD =
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password';
/** What Entra ID sends (wauth, RequestedAuthnContext) and expects back (amr) for multi-factor authentication. */
const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
const PPT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

async function signingCert(t: TestApp): Promise<string> {
  const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
  const [cert] = certFromMetadata(md.text);
  if (cert === undefined) throw new Error('no signing certificate in metadata');
  return cert;
}

/** The WS-Fed token of an auto-POST page, verified by xmlsec1 and xml-crypto (claims from the verified bytes). */
function wsfedToken(res: request.Response, cert: string): Saml11Claims {
  assert.equal(res.status, 200, res.text.slice(0, 400));
  assert.equal(formAction(res.text), 'https://login.microsoftonline.com/login.srf');
  const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.equal(xmlsec.ok, true, xmlsec.output);
  return verifySaml11WithXmlCrypto(assertion, cert);
}

/** The WS-Trust token of an RSTR, verified the same way. */
function wstrustToken(res: request.Response, cert: string): Saml11Claims {
  assert.equal(res.status, 200, res.text.slice(0, 400));
  const assertion = extractAssertionFromRstr(res.text);
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.equal(xmlsec.ok, true, xmlsec.output);
  return verifySaml11WithXmlCrypto(assertion, cert);
}

/** A WS-Fed sign-in to Microsoft 365 (form GET, credential POST); extra form fields and headers as given. */
async function wsfedSignIn(
  app: Express,
  o: {
    username: string;
    password: string;
    query?: Record<string, string>;
    fields?: Record<string, string>;
    headers?: Record<string, string>;
    jar?: Jar;
  },
): Promise<{ page: request.Response; res: request.Response | undefined; jar: Jar }> {
  const jar = o.jar ?? new Jar();
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, ...o.query });
  const page = await request(app)
    .get(`/adfs/ls/?${q.toString()}`)
    .set(o.headers ?? {})
    .set('Cookie', jar.header());
  jar.take(page);
  if (page.status !== 200 || !page.text.includes('name="AuthState"'))
    return { page, res: undefined, jar };
  const res = await request(app)
    .post('/adfs/ls/')
    .set(o.headers ?? {})
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(page.text, 'AuthState'),
      csrf: hidden(page.text, 'csrf'),
      UserName: o.username,
      Password: o.password,
      AuthMethod: 'FormsAuthentication',
      ...o.fields,
    });
  jar.take(res);
  return { page, res, jar };
}

// ---- B4.5 ------------------------------------------------------------------------------------------------

/**
 * The WS-Trust bindings AD FS has besides usernamemixed (as real AD FS MEX documents list them,
 * tests/fixtures/real-world/adfs-*.mex.xml, plus the windows/windowsmixed and certificate spellings of older
 * farms). AD FS guidance: none of them is published to the extranet; fedgate implements none of them.
 */
const UNPUBLISHED_BINDINGS = [
  'windowstransport',
  'windowsmixed',
  'windows',
  'kerberosmixed',
  'certificatemixed',
  'certificatetransport',
  'certificate',
  'issuedtokenmixedasymmetricbasic256',
  'issuedtokenmixedsymmetricbasic256',
  'issuedtokenasymmetricbasic256',
  'issuedtokensymmetricbasic256',
];

describe('corpus B4.5: only the endpoints Entra ID needs are served', () => {
  let t: TestApp;
  let authns: { count: () => number };
  let cert: string;
  before(async () => {
    // loopback plays the load balancer: its X-Forwarded-For/-Proto are believed, as for a real extranet client.
    t = await makeTestApp({ listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] } });
    authns = spyOnDirectory(t.services.directory, 'authenticate');
    cert = await signingCert(t);
  });
  after(async () => {
    await t.close();
  });

  /** A valid RST for alice (a fresh MessageID each time, so no replay cache answers instead). */
  const rst = (v: Version): string =>
    buildRst({ version: v, username: ALICE.username, password: ALICE.password, appliesTo: M365 });
  const extranet = {
    'X-Forwarded-Proto': 'https',
    'X-Forwarded-For': '203.0.113.45',
  };

  test('B4.5 windowstransport, kerberos, certificate and issued-token WS-Trust endpoints answer 404 through the load balancer, directory never asked', async () => {
    // Positive control: the same RST, credentials and headers at usernamemixed get a verified token.
    for (const v of [V13, V2005]) {
      const ok = await request(t.app)
        .post(v.path)
        .set(rstHeaders({ version: v }))
        .set(extranet)
        .send(rst(v));
      const claims = wstrustToken(ok, cert);
      assert.equal(claims.audience, M365);
    }
    for (const v of [V13, V2005]) {
      const base = v.path.replace(/usernamemixed$/, '');
      for (const binding of UNPUBLISHED_BINDINGS) {
        // Also the spellings a case-insensitive router or a trailing slash could let through.
        for (const path of [`${base}${binding}`, `${base}${binding}/`.toUpperCase()]) {
          const before = authns.count();
          const post = await request(t.app)
            .post(path)
            .set(rstHeaders({ version: v }))
            .set(extranet)
            .send(rst(v));
          assert.equal(post.status, 404, `${path}: ${post.text.slice(0, 200)}`);
          assert.doesNotMatch(post.text, /RequestSecurityTokenResponse|Assertion/, path);
          const get = await request(t.app).get(path).set(extranet);
          assert.equal(get.status, 404, path);
          assert.equal(authns.count(), before, `${path} reached the directory`);
        }
      }
    }
  });

  test('B4.5 MEX advertises usernamemixed only; a switched-off endpoint is gone from MEX and answers 404', async () => {
    const mex = await request(t.app).get('/adfs/services/trust/mex').set(extranet);
    assert.equal(mex.status, 200);
    const addresses = [...mex.text.matchAll(/<(?:\w+:)?address location="([^"]+)"/g)].map(
      (m) => new URL(m[1] ?? '').pathname,
    );
    assert.deepEqual([...new Set(addresses)].sort(), [
      '/adfs/services/trust/13/usernamemixed',
      '/adfs/services/trust/2005/usernamemixed',
    ]);
    for (const binding of UNPUBLISHED_BINDINGS)
      assert.doesNotMatch(mex.text, new RegExp(`/${binding}\\b`, 'i'), binding);

    // The hardening switch: WS-Trust 2005 off (legacy clients gone), 1.3 on.
    const off = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      wstrust: { endpoints: { usernamemixed2005: false, usernamemixed13: true, mex: true } },
    });
    try {
      const offAuthns = spyOnDirectory(off.services.directory, 'authenticate');
      const offCert = await signingCert(off);
      const on = await request(off.app)
        .post(V13.path)
        .set(rstHeaders({ version: V13 }))
        .set(extranet)
        .send(rst(V13));
      wstrustToken(on, offCert); // control: 1.3 still served
      const before = offAuthns.count();
      const gone = await request(off.app)
        .post(V2005.path)
        .set(rstHeaders({ version: V2005 }))
        .set(extranet)
        .send(rst(V2005));
      assert.equal(gone.status, 404, gone.text.slice(0, 200));
      assert.equal(offAuthns.count(), before, 'a switched-off endpoint reached the directory');
      const offMex = await request(off.app).get('/adfs/services/trust/mex');
      assert.match(offMex.text, /\/adfs\/services\/trust\/13\/usernamemixed/);
      assert.doesNotMatch(offMex.text, /\/adfs\/services\/trust\/2005\/usernamemixed/);
    } finally {
      await off.close();
    }
  });

  test('B4.5 the certificate leg is not served on the main listener unless a certificate proxy is configured', async () => {
    const pki = await TestPki.create();
    let c: TestApp | undefined;
    try {
      // The certificate listener (its own port, never opened here: makeTestApp does not listen), no proxy header.
      c = await makeTestApp({
        listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
        certificateAuth: {
          enabled: true,
          port: 49443,
          issuingCAs: [pki.issuing.certFile],
          caCertificates: [pki.root.certFile],
          revocation: { mode: 'off' },
        },
      });
      // Through the load balancer, with the header a TLS-terminating proxy would use for the certificate.
      const leaf = pki.issue(`b45-${randomUUID().slice(0, 8)}`, { upn: ALICE.username });
      const res = await request(c.app)
        .get('/adfs/ls/certauth/')
        .set(extranet)
        .set('X-SSL-Client-Cert', encodeURIComponent(leaf.certPem))
        .set('X-SSL-Client-Verify', 'SUCCESS');
      assert.equal(res.status, 404, res.text.slice(0, 200));
      // Control: the certificate listener's own app (port 49443 / certauth host) does route it.
      const certApp = createCertificateApp(c.services);
      const leg = await request(certApp).get('/adfs/ls/certauth/');
      assert.notEqual(leg.status, 404, leg.text.slice(0, 200));
      const unknown = await request(certApp).get('/adfs/ls/certauth-nothing-here');
      assert.equal(unknown.status, 404);
    } finally {
      await c?.close();
      await pki.close();
    }
  });
});

// ---- B5.4 ------------------------------------------------------------------------------------------------

describe('corpus B5.4: MFA claims only when MFA ran in this session', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([
      { file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } },
    ]);
  });
  after(async () => {
    await t.close();
  });

  /** No multi-factor statement anywhere in what was verified. */
  function assertNoMfa(claims: Saml11Claims, label: string): void {
    assert.deepEqual(claims.attributes[CLAIM.amr], [PASSWORD_METHOD], label);
    assert.equal(claims.authMethod, 'urn:oasis:names:tc:SAML:1.0:am:password', label);
    assert.doesNotMatch(claims.signedXml, /multipleauthn|multifactor/i, label);
  }

  test('B5.4 a forms sign-in carries authnmethodsreferences = password only, whatever the client posts or sends', async () => {
    // Positive control: the Microsoft 365 rules pass authnmethodsreferences through, so a method claim is there.
    const plain = await wsfedSignIn(t.app, ALICE);
    assertNoMfa(wsfedToken(plain.res!, t.idpCert), 'plain forms sign-in');
    // Client-supplied claims of MFA: the form's AuthMethod field, extra fields, query parameters and headers.
    const forged = await wsfedSignIn(t.app, {
      ...ALICE,
      query: { amr: MULTIPLE_AUTHN, acr_values: MULTIPLE_AUTHN },
      fields: {
        AuthMethod: MULTIPLE_AUTHN,
        authnmethodsreferences: MULTIPLE_AUTHN,
        [CLAIM.amr]: MULTIPLE_AUTHN,
      },
      headers: {
        'User-Agent': `Mozilla/5.0 ${MULTIPLE_AUTHN}`,
        'X-MS-Client-Application': MULTIPLE_AUTHN,
      },
    });
    assertNoMfa(wsfedToken(forged.res!, t.idpCert), 'client-supplied MFA markers');
  });

  /** The second-factor page: no token, no SAML response, a form of the MFA step. */
  function mfaPage(r: request.Response, label: string): void {
    assert.equal(r.status, 200, `${label}: ${String(r.status)}`);
    assert.doesNotMatch(r.text, /name="wresult"|name="SAMLResponse"|name="Password"/, label);
    assert.match(r.text, /action="\/adfs\/ls\/mfa"/, label);
  }

  test('B5.4 wauth asking for MFA gets no token after a password: not from the form, not from an existing SSO session', async () => {
    const fresh = await wsfedSignIn(t.app, { ...ALICE, query: { wauth: MULTIPLE_AUTHN } });
    assert.ok(fresh.res, 'the sign-in form is offered (the password is the first factor)');
    mfaPage(fresh.res, 'fresh');
    // A password session exists; asking again for MFA must not be answered from it: the second factor is asked.
    const first = await wsfedSignIn(t.app, ALICE);
    assertNoMfa(wsfedToken(first.res!, t.idpCert), 'session sign-in');
    const sso = await request(t.app)
      .get(
        `/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wauth: MULTIPLE_AUTHN }).toString()}`,
      )
      .set('Cookie', first.jar.header());
    mfaPage(sso, 'SSO');
    // Control: the same session answers a password wauth with a token (SSO works).
    const control = await request(t.app)
      .get(
        `/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wauth: PASSWORD_METHOD }).toString()}`,
      )
      .set('Cookie', first.jar.header());
    assertNoMfa(wsfedToken(control, t.idpCert), 'SSO control');
  });

  test('B5.4 IsPassive asking for MFA with a password-only session: NoPassive, never the second-factor page or a token', async () => {
    const first = await wsfedSignIn(t.app, ALICE);
    assertNoMfa(wsfedToken(first.res!, t.idpCert), 'session sign-in');
    const { res } = await postAndSignIn(
      t.app,
      {
        SAMLRequest: b64(
          authnRequestXml({
            isPassive: true,
            rac: { comparison: 'exact', classRefs: [MULTIPLE_AUTHN] },
          }),
        ),
      },
      first.jar,
    );
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.doesNotMatch(res.text, /\/adfs\/ls\/mfa|name="AuthState"/);
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse ?? '', 'base64').toString('utf8');
    assert.match(xml, /urn:oasis:names:tc:SAML:2\.0:status:NoPassive/);
    assert.doesNotMatch(xml, /<saml:Assertion/);
  });

  test('B5.4 RequestedAuthnContext multipleauthn → the second-factor page, no assertion; mixed with a password class → PasswordProtectedTransport, amr password', async () => {
    for (const comparison of ['exact', 'minimum']) {
      const { res } = await postAndSignIn(t.app, {
        SAMLRequest: b64(authnRequestXml({ rac: { comparison, classRefs: [MULTIPLE_AUTHN] } })),
      });
      mfaPage(res, comparison);
    }
    // MFA or password accepted: the password ran, so the assertion says password, never what was asked for first.
    const { res } = await postAndSignIn(t.app, {
      SAMLRequest: b64(
        authnRequestXml({ rac: { comparison: 'exact', classRefs: [MULTIPLE_AUTHN, PPT] } }),
      ),
    });
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse ?? '', 'base64').toString('utf8');
    const view = verifySaml2ResponseWithXmlCrypto(xml, t.idpCert);
    assert.equal(view.assertion.authnContextClassRef, PPT);
    assert.deepEqual(view.assertion.attributes.find((a) => a.name === CLAIM.amr)?.values, [
      PASSWORD_METHOD,
    ]);
    assert.doesNotMatch(view.assertion.signedXml, /multipleauthn/);
  });
});

describe('corpus B5.4 on a server with no usable second factor: an MFA request is refused, never answered without it', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp(
      [{ file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } }],
      { mfa: { methods: [] } },
    );
  });
  after(async () => {
    await t.close();
  });

  test('B5.4 wauth=multipleauthn gets no form and no token, not even from an SSO session', async () => {
    const refused = (r: request.Response, label: string): void => {
      assert.ok(r.status >= 400 && r.status < 500, `${label}: ${String(r.status)}`);
      assert.doesNotMatch(r.text, /name="wresult"|name="AuthState"|multipleauthn/, label);
    };
    const fresh = await wsfedSignIn(t.app, { ...ALICE, query: { wauth: MULTIPLE_AUTHN } });
    assert.equal(fresh.res, undefined, 'a sign-in form was offered for an MFA request');
    refused(fresh.page, 'fresh');
    const first = await wsfedSignIn(t.app, ALICE);
    const sso = await request(t.app)
      .get(
        `/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wauth: MULTIPLE_AUTHN }).toString()}`,
      )
      .set('Cookie', first.jar.header());
    refused(sso, 'SSO');
  });

  test('B5.4 RequestedAuthnContext multipleauthn → NoAuthnContext, no assertion', async () => {
    const statusCodes = (text: string): string[] => {
      const doc = parseStrict(
        Buffer.from(postedSaml(text).SAMLResponse ?? '', 'base64').toString('utf8'),
      );
      return Array.from(
        doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:protocol', 'StatusCode'),
      ).map((e) => e.getAttribute('Value') ?? '');
    };
    for (const comparison of ['exact', 'minimum']) {
      const { res } = await postAndSignIn(t.app, {
        SAMLRequest: b64(authnRequestXml({ rac: { comparison, classRefs: [MULTIPLE_AUTHN] } })),
      });
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.ok(!res.text.includes('name="AuthState"'), 'sign-in form offered for MFA only');
      assert.deepEqual(statusCodes(res.text), [
        'urn:oasis:names:tc:SAML:2.0:status:Responder',
        'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
      ]);
      const xml = Buffer.from(postedSaml(res.text).SAMLResponse ?? '', 'base64').toString('utf8');
      assert.doesNotMatch(xml, /<saml:Assertion/);
    }
  });
});

// ---- B5.2 against the Samba AD DC --------------------------------------------------------------------------

describe('corpus B5.2 on Samba AD: ImmutableID from objectGUID / mS-DS-ConsistencyGuid, no token outside the federated domains', () => {
  let env: SambaEnv;
  let t: TestApp;
  let cert: string;
  // This file's own accounts (created and removed here: no other test's lockout budget is touched; only correct
  // passwords are used).
  const CORP_SAM = 'fgcorpusb52a';
  const FOREIGN_SAM = 'fgcorpusb52f';
  const PASSWORD = `Bb-${randomUUID().slice(0, 12)}!5`;
  const dnOf = (sam: string): string => `CN=${sam},CN=Users,${env.baseDn}`;
  let corpUpn = '';
  let foreignUpn = '';

  function createUser(sam: string, upn: string, mail: string): void {
    try {
      adminModify(env, `dn: ${dnOf(sam)}\nchangetype: delete\n`);
    } catch {
      /* not there yet */
    }
    const pw = Buffer.from(`"${PASSWORD}"`, 'utf16le').toString('base64');
    adminModify(
      env,
      `dn: ${dnOf(sam)}\nchangetype: add\nobjectClass: user\nsAMAccountName: ${sam}\n` +
        `userPrincipalName: ${upn}\nmail: ${mail}\nunicodePwd:: ${pw}\nuserAccountControl: 512\n`,
    );
  }

  before(async () => {
    env = sambaEnv();
    corpUpn = `${CORP_SAM}@${env.upnSuffix}`;
    foreignUpn = `${FOREIGN_SAM}@${env.secondUpnSuffix}`;
    createUser(CORP_SAM, corpUpn, `b52.mail@${env.upnSuffix}`);
    createUser(FOREIGN_SAM, foreignUpn, `b52f.mail@${env.secondUpnSuffix}`);
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      directory: sambaLdapConfig(env),
      passwordChange: { enabled: false },
      // Only the corp suffix is federated with this server; fabrikam.test is not.
      microsoft365: { federatedDomains: [env.upnSuffix] },
    });
    cert = await signingCert(t);
  });
  after(async () => {
    await t.close();
    for (const sam of [CORP_SAM, FOREIGN_SAM])
      adminModify(env, `dn: ${dnOf(sam)}\nchangetype: delete\n`);
  });

  async function wsfed(username: string): Promise<Saml11Claims> {
    const { res } = await wsfedSignIn(t.app, { username, password: PASSWORD });
    assert.ok(res !== undefined, 'no sign-in form');
    return wsfedToken(res, cert);
  }

  async function wstrust(username: string): Promise<Saml11Claims> {
    const res = await request(t.app)
      .post(V13.path)
      .set(rstHeaders({ version: V13 }))
      .set('X-Forwarded-Proto', 'https')
      .send(buildRst({ version: V13, username, password: PASSWORD, appliesTo: M365 }));
    return wstrustToken(res, cert);
  }

  function assertImmutable(claims: Saml11Claims, expected: string, label: string): void {
    assert.equal(claims.nameIdentifier, expected, label);
    assert.deepEqual(claims.attributes[CLAIM.immutableId], [expected], label);
  }

  test('B5.2 ImmutableID and NameIdentifier are the objectGUID (read with ldapsearch) and survive a UPN and mail change; then mS-DS-ConsistencyGuid wins', async () => {
    const guid = readObjectGuidWithCli(env, CORP_SAM).toString('base64');
    const first = await wsfed(corpUpn);
    assertImmutable(first, guid, 'WS-Fed');
    assert.deepEqual(first.attributes[CLAIM.upn], [corpUpn]);
    assertImmutable(await wstrust(corpUpn), guid, 'WS-Trust');

    // The administrator renames the user (UPN and mail), as a marriage or a domain move does.
    const renamedUpn = `${CORP_SAM}-renamed@${env.upnSuffix}`;
    const renamedMail = `b52.renamed@${env.upnSuffix}`;
    adminModify(
      env,
      `dn: ${dnOf(CORP_SAM)}\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: ${renamedUpn}\n-\n` +
        `replace: mail\nmail: ${renamedMail}\n-\n`,
    );
    const renamed = await wsfed(renamedUpn);
    // Control: the rename is visible in the token, so the directory was read afresh.
    assert.deepEqual(renamed.attributes[CLAIM.upn], [renamedUpn]);
    assertImmutable(renamed, guid, 'after rename (WS-Fed)');
    assertImmutable(await wstrust(renamedUpn), guid, 'after rename (WS-Trust)');
    for (const v of [renamed.nameIdentifier, ...(renamed.attributes[CLAIM.immutableId] ?? [])])
      assert.ok(
        v !== null && !v.includes('@'),
        `ImmutableID looks like a UPN or mail: ${String(v)}`,
      );

    // Entra Connect's source anchor: once mS-DS-ConsistencyGuid is set, it is the ImmutableID (and stays so).
    const consistency = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
    adminModify(
      env,
      `dn: ${dnOf(CORP_SAM)}\nchangetype: modify\nreplace: mS-DS-ConsistencyGuid\n` +
        `mS-DS-ConsistencyGuid:: ${consistency.toString('base64')}\n-\n`,
    );
    assertImmutable(await wsfed(renamedUpn), consistency.toString('base64'), 'consistency guid');
  });

  test('B5.2 a user whose UPN suffix is not a federated domain gets no Microsoft 365 token (audited 403 / MSIS3127 fault)', async () => {
    const FOREIGN_ISSUER = `http://${env.secondUpnSuffix}/adfs/services/trust/`;
    // Positive control: a user of the federated domain gets its per-domain Issuer (the issuerid rules run).
    // (By its Windows name: the test above renamed its UPN within the same suffix.)
    const corp = await wsfed(`${env.netbiosDomain}\\${CORP_SAM}`);
    assert.equal(corp.issuer, `http://${env.upnSuffix}/adfs/services/trust/`);

    for (const username of [foreignUpn, `${env.netbiosDomain}\\${FOREIGN_SAM}`]) {
      const { res } = await wsfedSignIn(t.app, { username, password: PASSWORD });
      assert.ok(res !== undefined, 'no sign-in form');
      assert.equal(res.status, 403, `${username}: ${String(res.status)}`);
      assert.doesNotMatch(res.text, /wresult/);
      const activityId = String(res.headers['x-activity-id']);
      assert.ok(res.text.includes(activityId), 'the page shows the activity id');
      const ev = t.logs.events('issuance_failed').find((e) => e.activityId === activityId);
      assert.ok(ev, `${username}: audited`);
      assert.match(String(ev.reason), /not in microsoft365\.federatedDomains/);
      const ws = await request(t.app)
        .post(V13.path)
        .set(rstHeaders({ version: V13 }))
        .set('X-Forwarded-Proto', 'https')
        .send(buildRst({ version: V13, username, password: PASSWORD, appliesTo: M365 }));
      assert.equal(ws.status, 500, 'a SOAP fault, as AD FS sends them');
      assert.doesNotMatch(ws.text, /RequestedSecurityToken/);
      assert.match(ws.text, /MSIS3127/);
    }

    // Control: once fabrikam.test is federated too, the same user gets its Issuer (the account itself is fine).
    const both = await makeTestApp({
      directory: sambaLdapConfig(env),
      passwordChange: { enabled: false },
      microsoft365: { federatedDomains: [env.upnSuffix, env.secondUpnSuffix] },
    });
    try {
      const bothCert = await signingCert(both);
      const { res } = await wsfedSignIn(both.app, { username: foreignUpn, password: PASSWORD });
      assert.ok(res !== undefined);
      assert.equal(wsfedToken(res, bothCert).issuer, FOREIGN_ISSUER);
    } finally {
      await both.close();
    }
  });
});
