import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import {
  M365,
  decodeEntities,
  formAction,
  hidden,
  makeTestApp,
  signIn,
  type TestApp,
} from '../helpers/app.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

// The WS-Fed passive flow end to end on the embedded demo directory (the same flow against Samba AD is in
// wsfed-ldap.test.ts). Tokens are checked by independent verifiers: xml-crypto with ONLY the certificate taken
// from our published metadata, and the xmlsec1 command-line tool.

const ALICE = { username: 'alice@fedgate.test', password: 'Passw0rd!' };

describe('WS-Federation passive sign-in (embedded directory)', () => {
  let t: TestApp;
  let metadataCert: string;
  before(async () => {
    t = await makeTestApp();
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    assert.equal(md.status, 200);
    const certs = certFromMetadata(md.text);
    assert.equal(certs.length, 1);
    metadataCert = certs[0]!;
  });
  after(async () => {
    await t.close();
  });

  test('the sign-in page is served with security headers and a CSRF-protected form', async () => {
    const res = await request(t.app).get(
      `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}&username=alice%40fedgate.test`,
    );
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /text\/html/);
    assert.match(res.text, /Microsoft Office 365 Identity Platform/);
    assert.ok(hidden(res.text, 'csrf').length >= 16);
    assert.ok(hidden(res.text, 'AuthState').length >= 16);
    assert.match(res.text, /value="alice@fedgate.test"/, 'username hint prefills the form');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.match(res.headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    // No inline script and nobody else's: only fedgate's own page script file (the Caps Lock hint, issue 17).
    assert.match(res.headers['content-security-policy'] ?? '', /(^|; )script-src 'self'(;|$)/);
    assert.deepEqual(
      [...res.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]),
      ['<script src="/adfs/portal/theme/signin.js" defer>'],
    );
    // Plain HTTP, no trusted proxy: no HSTS (RFC 6797 §7.2); over https see tests/security/browser-hardening.
    assert.equal(res.headers['strict-transport-security'], undefined);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.headers['x-activity-id'] ?? '', /^[0-9a-f-]{36}$/);
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    assert.ok(
      cookies.some(
        (c) =>
          c.startsWith('__Host-fedgate_signin=') &&
          /Secure/.test(c) &&
          /HttpOnly/.test(c) &&
          /SameSite=Lax/i.test(c) &&
          /Path=\//.test(c),
      ),
    );
  });

  test('signing in posts a verifiable SAML 1.1 token for Microsoft 365, with wctx unchanged', async () => {
    const wctx = 'LoginOptions=3&estsredirect=2&estsrequest=rQIIA"<x>&amp;\'';
    const { res, jar } = await signIn(t.app, { ...ALICE, query: { wctx } });
    assert.equal(res.status, 200);
    assert.equal(formAction(res.text), 'https://login.microsoftonline.com/login.srf');
    assert.equal(hidden(res.text, 'wa'), 'wsignin1.0');
    assert.equal(hidden(res.text, 'wctx'), wctx);
    assert.match(
      res.headers['content-security-policy'] ?? '',
      /form-action https:\/\/login\.microsoftonline\.com;/,
    );
    assert.match(
      res.text,
      /<noscript>[\s\S]*<button type="submit">Continue<\/button>/,
      'works without JavaScript',
    );
    assert.ok(jar.get('__Host-fedgate_sso'), 'an SSO session cookie is set');

    const wresult = hidden(res.text, 'wresult');
    assert.match(
      wresult,
      /^<t:RequestSecurityTokenResponse xmlns:t="http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/02\/trust">/,
    );
    assert.match(wresult, /<wsa:Address>urn:federation:MicrosoftOnline<\/wsa:Address>/);
    const assertion = extractAssertionFromRstr(wresult);
    const claims = verifySaml11WithXmlCrypto(assertion, metadataCert);
    assert.equal(claims.issuer, 'http://sts.fedgate.test/adfs/services/trust');
    assert.equal(claims.audience, M365);
    const user = await t.services.directory.findUser('alice@fedgate.test');
    assert.ok(user);
    assert.equal(claims.nameIdentifier, user.immutableId);
    assert.equal(
      claims.nameIdentifierFormat,
      'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
    );
    assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [
      'alice@fedgate.test',
    ]);
    assert.deepEqual(
      claims.attributes['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'],
      [user.immutableId],
    );
    assert.equal(claims.authMethod, 'urn:oasis:names:tc:SAML:1.0:am:password');
    const lifetime = new Date(claims.notOnOrAfter).getTime() - new Date(claims.notBefore).getTime();
    assert.equal(lifetime, 3600_000, 'one-hour token lifetime');
    const xmlsec = verifyWithXmlsec1(assertion, metadataCert, {
      name: 'AssertionID',
      ns: 'urn:oasis:names:tc:SAML:1.0:assertion',
      element: 'Assertion',
    });
    assert.equal(xmlsec.ok, true, xmlsec.output);

    const issued = t.logs.events('token_issued').at(-1);
    assert.ok(issued);
    assert.equal(issued.rp, M365);
    assert.match(String(issued.assertionId), /^_[0-9a-f-]{36}$/);
    assert.ok(
      !t.logs.raw.some((l) => l.includes(ALICE.password)),
      'the password never reaches a log line',
    );
    assert.ok(
      !t.logs.raw.some((l) => l.includes('RequestSecurityTokenResponse')),
      'tokens never reach a log line',
    );
  });

  test('a second sign-in within the SSO session does not prompt; wfresh=0 does', async () => {
    const first = await signIn(t.app, ALICE);
    const again = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`)
      .set('Cookie', first.jar.header());
    assert.equal(again.status, 200);
    assert.equal(formAction(again.text), 'https://login.microsoftonline.com/login.srf');
    const fresh = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}&wfresh=0`)
      .set('Cookie', first.jar.header());
    assert.equal(fresh.status, 200);
    assert.ok(fresh.text.includes('name="Password"'), 'wfresh=0 asks for the password again');
    const promptLogin = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}&prompt=login`)
      .set('Cookie', first.jar.header());
    assert.ok(promptLogin.text.includes('name="Password"'));
  });

  test('sign-out ends the session on the server and shows the signed-out page', async () => {
    const { jar } = await signIn(t.app, ALICE);
    const cookieBefore = jar.header();
    const out = await request(t.app).get('/adfs/ls/?wa=wsignout1.0').set('Cookie', cookieBefore);
    assert.equal(out.status, 200);
    assert.match(out.text, /You have signed out/);
    assert.ok(
      ([] as string[])
        .concat(out.headers['set-cookie'] ?? [])
        .some((c) => /^__Host-fedgate_sso=;/.test(c) && /Max-Age=0/i.test(c)),
    );
    // Replaying the old cookie: the server-side session is gone.
    const again = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`)
      .set('Cookie', cookieBefore);
    assert.ok(again.text.includes('name="Password"'));
    assert.ok(t.logs.events('signout').length >= 1);
  });

  test('sign-out follows wreply only to a registered endpoint', async () => {
    const ok = await request(t.app).get(
      `/adfs/ls/?wa=wsignout1.0&wreply=${encodeURIComponent('https://login.microsoftonline.com/login.srf')}`,
    );
    assert.equal(ok.status, 302);
    assert.equal(ok.headers.location, 'https://login.microsoftonline.com/login.srf');
    const evil = await request(t.app).get(
      `/adfs/ls/?wa=wsignout1.0&wreply=${encodeURIComponent('https://evil.example/')}`,
    );
    assert.equal(evil.status, 200);
    assert.equal(evil.headers.location, undefined);
  });

  test('the built-in test relying party shows the verified token to the signed-in user', async () => {
    const { res } = await signIn(t.app, { ...ALICE, realm: 'urn:fedgate:test' });
    const action = formAction(res.text);
    assert.equal(action, 'https://sts.fedgate.test/adfs/test/result');
    const shown = await request(t.app)
      .post('/adfs/test/result')
      .type('form')
      .send({ wa: 'wsignin1.0', wresult: hidden(res.text, 'wresult') });
    assert.equal(shown.status, 200);
    assert.match(decodeEntities(shown.text), /Signed in as [A-Za-z0-9+/=]+\. This is the token/);
    assert.match(shown.text, /alice@fedgate.test/);
    const forged = await request(t.app)
      .post('/adfs/test/result')
      .type('form')
      .send({
        wresult: hidden(res.text, 'wresult').replace('alice@fedgate.test', 'admin@fedgate.test'),
      });
    assert.equal(forged.status, 400);
    assert.match(forged.text, /could not be verified/);
  });

  test('credential failures all show the same generic message', async () => {
    for (const [username, password] of [
      ['alice@fedgate.test', 'wrong-password'],
      ['nobody@fedgate.test', 'Passw0rd!'],
    ] as const) {
      const { res } = await signIn(t.app, { username, password });
      assert.equal(res.status, 200);
      assert.ok(res.text.includes(GENERIC_FAILURE));
    }
  });
});
