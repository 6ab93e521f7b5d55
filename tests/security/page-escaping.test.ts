/**
 * Issue 17 "Bad input": every user-controlled value that reaches a page is escaped. Hostile values go into each
 * such input — the user name (form post, Entra's `username=` hint, a SAML Subject, the paginated first page),
 * RelayState and wctx, `ui_locales`/`mkt`/`lc`, the language cookie, the picker's `return`, a relying party's name
 * (trust file) or entity id (SAML metadata), and factor names on the security-info portal — and each page is
 * checked:
 *
 * - no `<script` but fedgate's own (its theme script, or the auto-post form's nonce'd one), no inline event handler
 *   attribute, no `<img` of the payload, no raw payload anywhere in the source;
 * - every tag is well formed: attributes are `name="value"` with no quote inside a value (a broken-out quote shows
 *   up as a stray attribute or tag);
 * - the value did reach the page (so the check is not vacuous), decoded exactly as given;
 * - mustache and ICU syntax in a value (`{{t.common.language}}`, `{companyName}`, `'{'`) stays literal text;
 * - no 5xx.
 *
 * No HTML parser package is a direct dependency of the project (angular-html-parser is only Stryker's), so the
 * source is checked with the rules above; tests/e2e/branded-signin-browser.test.ts has Chromium parse real pages.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  Jar,
  M365,
  hidden,
  makeTestApp,
  postSignInForm,
  wsfedSignInUrl,
  type TestApp,
} from '../helpers/app.ts';
import {
  EMAIL,
  SP_ACS,
  SP_ID,
  authnRequestXml,
  b64,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { decode, htmlLang, textOf } from '../fixtures/branding-e2e/pages.ts';

const PASSWORD = 'Passw0rd!';
/** Hostile values, each a different way out of text or an attribute, or into a template language. */
const PAYLOADS = [
  '<img src=x onerror=alert(1)>',
  '"><script>alert(1)</script>',
  "' onmouseover='alert(1)",
  '" onfocus="alert(1)" autofocus="',
  '{{t.common.language}}',
  '{{{content}}}',
  '{companyName}',
  "'{'",
  '{x, plural, other {#}}',
  '</textarea></title><svg onload=alert(1)>',
  'javascript:alert(1)',
] as const;

const OWN_SCRIPT =
  /^<script (?:src="\/adfs\/portal\/theme\/[a-z]+\.js"(?: defer)?|nonce="[^"]+")>$/;
const TAG = /<[a-zA-Z][^>]*>/g;
const WELL_FORMED =
  /^<[a-zA-Z][a-zA-Z0-9-]*(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:="[^"]*")?)*\s*\/?>$/;

/** The page source shows `payload` only escaped, and is well formed; returns the decoded source. */
function assertEscaped(html: string, payload: string, what: string): string {
  for (const m of html.matchAll(/<script\b[^>]*>/gi))
    assert.match(m[0], OWN_SCRIPT, `${what}: a script that is not fedgate's: ${m[0]}`);
  assert.doesNotMatch(html, /<img src=x|<svg onload/i, `${what}: injected element`);
  for (const tag of html.match(TAG) ?? []) {
    assert.match(tag, WELL_FORMED, `${what}: malformed tag ${tag}`);
    for (const a of tag.matchAll(/\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?==|\s|>|\/)/g))
      assert.ok(!/^on/i.test(a[1] ?? ''), `${what}: event handler attribute in ${tag}`);
  }
  if (/[<>"']/.test(payload)) assert.ok(!html.includes(payload), `${what}: raw payload in source`);
  return decode(html);
}

const wsfed = wsfedSignInUrl;

/** A GET with the path exactly as written (no client-side encoding). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const r = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        ok({ status: res.statusCode ?? 0, body });
      });
    });
    r.on('error', fail);
    r.end();
  });
}

function noServerError(res: request.Response, what: string): void {
  assert.ok(res.status < 500, `${what}: ${String(res.status)} ${res.text.slice(0, 200)}`);
  assert.doesNotMatch(res.text, /\n\s+at [^\n]+\(/, `${what}: stack trace`);
}

describe('issue 17: hostile values on the pages are escaped', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  const evilId = 'https://evil.sp.test/"><img src=x onerror=alert(1)>';
  const xmlAttr = (v: string): string =>
    v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  before(async () => {
    t = await samlApp(
      [
        {
          file: 'sp',
          metadataXml: spMetadata(standardSp()),
          trust: {
            name: "<img src=x onerror=alert(1)> {companyName} '{' \"><script>alert(1)</script>",
            nameIdFormat: EMAIL,
            idpInitiated: true,
          },
        },
        {
          // No name in the trust file: the metadata's entityID is shown.
          file: 'evil',
          metadataXml: spMetadata({
            entityId: xmlAttr(evilId),
            acs: [{ location: 'https://evil.sp.test/acs', index: 0, isDefault: true }],
            nameIdFormats: [EMAIL],
          }),
          trust: { nameIdFormat: EMAIL, idpInitiated: true },
        },
      ],
      {
        saml2: { idpInitiatedSignOn: true },
        branding: { webContent: { companyName: 'Acme "Corp" <b>' } },
        lockout: { enabled: false },
        mfa: { methods: ['totp'], secrets: ['fedgate-page-escaping-mfa-secret-0123456789'] },
      },
    );
  });
  after(async () => {
    await t.close();
  });

  test('the user name posted with a wrong password, in the form field', async () => {
    for (const p of PAYLOADS) {
      const jar = new Jar();
      const first = await request(t.app).get(wsfed(M365));
      jar.take(first);
      const res = await postSignInForm(t.app, jar, first.text, {
        AuthMethod: 'FormsAuthentication',
        UserName: p,
        Password: 'wrong',
      });
      noServerError(res, p);
      assert.equal(res.status, 200);
      assertEscaped(res.text, p, `posted user name ${p}`);
      const value = /<input id="userNameInput"[^>]*\svalue="([^"]*)"/.exec(res.text)?.[1];
      assert.equal(decode(value ?? ''), p, 'the value reached the field, exactly');
    }
  });

  test("Entra's username= hint: the 'Signing in as' text and the hidden field", async () => {
    for (const p of PAYLOADS) {
      const res = await request(t.app).get(wsfed(M365, { username: p }));
      noServerError(res, p);
      assert.equal(res.status, 200);
      assertEscaped(res.text, p, `username= ${p}`);
      assert.equal(textOf(res.text, 'signingInAs'), `Signing in as ${p}`, 'literal, not re-parsed');
      assert.equal(hidden(res.text, 'UserName'), p);
    }
  });

  test('a SAML AuthnRequest Subject NameID and RelayState', async () => {
    for (const p of PAYLOADS) {
      const nameId = p.replace(/&/g, '&amp;').replace(/</g, '&lt;');
      const xml = authnRequestXml({ issuer: SP_ID }).replace(
        '</saml:Issuer>',
        `</saml:Issuer><saml:Subject><saml:NameID>${nameId}</saml:NameID></saml:Subject>`,
      );
      const jar = new Jar();
      const res = await request(t.app)
        .post('/adfs/ls/')
        .type('form')
        .send({ SAMLRequest: b64(xml), RelayState: p });
      jar.take(res);
      noServerError(res, p);
      assert.equal(res.status, 200, res.text.slice(0, 200));
      assertEscaped(res.text, p, `Subject NameID ${p}`);
      assert.equal(textOf(res.text, 'signingInAs'), `Signing in as ${p}`);
      // Signed in (as alice, the hint is only a hint): the auto-post form carries RelayState back, escaped.
      const done = await request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', jar.header())
        .type('form')
        .send({
          AuthState: hidden(res.text, 'AuthState'),
          csrf: hidden(res.text, 'csrf'),
          AuthMethod: 'FormsAuthentication',
          UserName: 'alice@fedgate.test',
          Password: PASSWORD,
        });
      noServerError(done, p);
      assert.match(done.text, /name="SAMLResponse"/, done.text.slice(0, 300));
      assertEscaped(done.text, p, `RelayState ${p}`);
      assert.equal(hidden(done.text, 'RelayState'), p);
      assert.equal(decode(/ action="([^"]*)"/.exec(done.text)?.[1] ?? ''), SP_ACS);
    }
  });

  test('WS-Fed wctx on the auto-post form', async () => {
    for (const p of PAYLOADS) {
      const jar = new Jar();
      const first = await request(t.app).get(wsfed(M365, { wctx: p }));
      jar.take(first);
      assertEscaped(first.text, p, `wctx on the sign-in page ${p}`);
      const done = await request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', jar.header())
        .type('form')
        .send({
          AuthState: hidden(first.text, 'AuthState'),
          csrf: hidden(first.text, 'csrf'),
          AuthMethod: 'FormsAuthentication',
          UserName: 'alice@fedgate.test',
          Password: PASSWORD,
        });
      noServerError(done, p);
      assertEscaped(done.text, p, `wctx ${p}`);
      assert.equal(hidden(done.text, 'wctx'), p);
    }
  });

  test('ui_locales, mkt, lc and the language cookie never reach the page as given; the picker return is escaped', async () => {
    for (const p of PAYLOADS) {
      for (const name of ['ui_locales', 'mkt', 'lc']) {
        const res = await request(t.app)
          .get(wsfed(M365, { [name]: p }))
          .set('Cookie', `__Host-fedgate_lang=${encodeURIComponent(p)}`);
        noServerError(res, `${name}=${p}`);
        assert.equal(res.status, 200);
        const decoded = assertEscaped(res.text, p, `${name} ${p}`);
        assert.equal(htmlLang(res.text).lang, 'en', 'a hostile hint or cookie is no language');
        assert.equal(res.headers['content-language'], 'en');
        // The picker's return address is the pending sign-in's own resume address, never the request's (which
        // would reflect whatever a link carried).
        assert.equal(
          hidden(res.text, 'return'),
          `/adfs/ls/?AuthState=${hidden(res.text, 'AuthState')}`,
        );
        assert.ok(decoded.includes('name="return"'));
      }
    }
  });

  test('a raw (not percent-encoded) hostile query, as a browser-less client sends it, is not reflected by the picker', async () => {
    // supertest percent-encodes the path; node:http sends it as written, as an attacker's client would. The
    // language picker's return field is the pending sign-in's resume address, not the request's own.
    const server = createServer(t.app);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const p of PAYLOADS) {
        const path = `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}&ui_locales=${p.replace(/[ #%&+]/g, encodeURIComponent)}`;
        const res = await rawGet(port, path);
        assert.ok(res.status < 500, `raw ${p}: ${String(res.status)}`);
        if (res.status !== 200) continue; // refused by the HTTP parser or the URL guard: nothing rendered
        const back = /name="return" value="([^"]*)"/.exec(res.body)?.[1];
        const state = /name="AuthState" value="([^"]*)"/.exec(res.body)?.[1];
        assert.equal(
          decode(back ?? ''),
          `/adfs/ls/?AuthState=${decode(state ?? '')}`,
          `raw ${p}: the return field is the resume address`,
        );
        assertEscaped(res.body, p, `raw ui_locales ${p}`);
      }
    } finally {
      server.close();
    }
  });

  test('the picker refusing a hostile return shows it escaped', async () => {
    for (const p of PAYLOADS) {
      for (const back of [`/adfs/ls/?x=${p}`, p]) {
        const res = await request(t.app).get(
          `/adfs/portal/language?${new URLSearchParams({ lang: 'de', return: back }).toString()}`,
        );
        noServerError(res, back);
        assertEscaped(res.text, p, `return ${back}`);
      }
      const badLang = await request(t.app).get(
        `/adfs/portal/language?${new URLSearchParams({ lang: p, return: '/adfs/ls/' }).toString()}`,
      );
      assert.equal(badLang.status, 400);
      assertEscaped(badLang.text, p, `lang ${p}`);
    }
  });

  test("a relying party's name from its trust file and its entity id from metadata", async () => {
    const signin = await request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({ SAMLRequest: b64(authnRequestXml({ issuer: SP_ID })) });
    assert.equal(signin.status, 200);
    const name = "<img src=x onerror=alert(1)> {companyName} '{' \"><script>alert(1)</script>";
    assertEscaped(signin.text, name, 'trust name on the sign-in page');
    assert.equal(
      textOf(signin.text, 'relyingParty'),
      `to continue to ${name}`,
      'ICU left it alone',
    );
    assertEscaped(signin.text, 'Acme "Corp" <b>', 'company name');

    const evil = await request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({
        SAMLRequest: b64(
          authnRequestXml({
            issuer: xmlAttr(evilId),
            acsUrl: 'https://evil.sp.test/acs',
          }).replace(
            `<saml:Issuer>${xmlAttr(evilId)}`,
            `<saml:Issuer>${evilId.replace(/</g, '&lt;')}`,
          ),
        ),
      });
    noServerError(evil, 'evil entity id');
    assert.equal(evil.status, 200, evil.text.slice(0, 300));
    assertEscaped(evil.text, evilId, 'entity id as the name');
    assert.equal(textOf(evil.text, 'relyingParty'), `to continue to ${evilId}`);

    const idp = await request(t.app).get('/adfs/ls/idpinitiatedsignon');
    assert.equal(idp.status, 200);
    const decoded = assertEscaped(idp.text, name, 'IdP-initiated list');
    assertEscaped(idp.text, evilId, 'IdP-initiated list (entity id)');
    assert.ok(decoded.includes(name) && decoded.includes(evilId), 'both names are listed');
  });

  test('factor names on the security-info portal and the MFA page', async () => {
    const store = t.services.mfa.enrolments;
    assert.ok(store);
    const alice = await t.services.directory.findUser('alice');
    assert.ok(alice);
    const names = PAYLOADS.slice(0, 4).map((p) => p.slice(0, 64));
    await store.write(alice, {
      v: 1,
      factors: names.map((n, i) => ({
        kind: 'totp' as const,
        id: `escapeFactor00000000${String(i)}`,
        name: n,
        createdAt: '2026-01-01T00:00:00.000Z',
        secret: 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF',
      })),
    });
    // The MFA page lists the factors to choose from.
    const jar = new Jar();
    const first = await request(t.app).get(
      wsfed(M365, { wauth: 'http://schemas.microsoft.com/claims/multipleauthn' }),
    );
    jar.take(first);
    const mfa = await request(t.app)
      .post('/adfs/ls/')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(first.text, 'AuthState'),
        csrf: hidden(first.text, 'csrf'),
        AuthMethod: 'FormsAuthentication',
        UserName: 'alice@fedgate.test',
        Password: PASSWORD,
      });
    jar.take(mfa);
    assert.match(mfa.text, /id="totpFactor"/, mfa.text.slice(0, 300));
    for (const n of names) {
      const decoded = assertEscaped(mfa.text, n, `factor ${n} on the MFA page`);
      assert.ok(decoded.includes(n));
    }
    // The portal after the second factor.
    const { oathtool } = await import('../helpers/mfa.ts');
    const done = await request(t.app)
      .post('/adfs/ls/mfa')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(mfa.text, 'AuthState'),
        csrf: hidden(mfa.text, 'csrf'),
        Method: 'totp',
        FactorId: 'escapeFactor000000000',
        Code: oathtool('KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF', t.services.clock.now()),
      });
    jar.take(done);
    noServerError(done, 'mfa');
    const portal = await request(t.app).get('/adfs/portal/').set('Cookie', jar.header());
    noServerError(portal, 'portal');
    assert.match(portal.text, /id="factorList"/, portal.text.slice(0, 300));
    for (const n of names) {
      const decoded = assertEscaped(portal.text, n, `factor ${n} on the portal`);
      assert.ok(decoded.includes(n), `factor ${n} listed`);
    }
  });
});

describe('issue 17: the paginated first page escapes the name given', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp({ branding: { signIn: { paginated: true } } });
  });
  after(async () => {
    await t.close();
  });

  test('the user name posted on the first page', async () => {
    for (const p of PAYLOADS) {
      const jar = new Jar();
      const first = await request(t.app).get(wsfed(M365));
      jar.take(first);
      const res = await postSignInForm(t.app, jar, first.text, {
        AuthMethod: 'Identify',
        UserName: p,
      });
      noServerError(res, p);
      assertEscaped(res.text, p, `identify ${p}`);
      assert.equal(textOf(res.text, 'signingInAs'), `Signing in as ${p.trim()}`);
      assert.equal(hidden(res.text, 'UserName'), p.trim());
    }
  });
});
