import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { SIGNIN_COOKIE } from '../../server/http/cookies.ts';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import {
  SP_ID,
  samlApp,
  spMetadata,
  standardSp,
  submitCredentials,
} from '../fixtures/saml2/harness.ts';
import { buildRst, rstHeaders, V13 } from '../fixtures/wstrust/rst.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';
import {
  Jar,
  M365,
  decodeEntities,
  hidden,
  makeTestApp,
  signIn,
  type TestApp,
} from '../helpers/app.ts';

// Cases StrykerJS showed the other in-process suites did not pin in protocols/browser/password.ts, pending.ts and
// protocols/issuance/issue-token.ts (issue 15: the sign-in pipeline; figures in stryker.config.mjs). Each test
// changes only what its defence is about and was checked to fail with the mutation applied by hand. Corpus
// references: ../shared/security-corpus.md.

const realm = encodeURIComponent(M365);
const TLS_CLIENT = encodeURIComponent('urn:ietf:rfc:2246');
const PASSWORD_METHOD = encodeURIComponent(
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
);
/** The client address the trusted loopback proxy forwards (documentation range, RFC 5737). */
const CLIENT = '198.51.100.7';
const USER = 'alice@fedgate.test';
const PASSWORD = 'Passw0rd!';

function assertErrorPage(res: request.Response, status: number, code: string): void {
  assert.equal(res.status, status, `status (body: ${res.text.slice(0, 300)})`);
  assert.match(res.headers['content-type'] ?? '', /text\/html/);
  assert.ok(res.text.includes(code), `error code ${code} on the page`);
  assert.doesNotMatch(res.text, /name="wresult"/, 'no token');
}

/** The sign-in form's fields, filled in. */
function formOf(page: request.Response, UserName: string, Password: string) {
  return {
    AuthState: hidden(page.text, 'AuthState'),
    csrf: hidden(page.text, 'csrf'),
    UserName,
    Password,
  };
}

/** A self-signed CA, only so that certificate sign-in can be switched on (no certificate is presented here). */
function makeCa(dir: string): string {
  const pem = join(dir, 'ca.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      pem,
      '-subj',
      '/CN=fedgate pipeline test CA',
      '-days',
      '3650',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { stdio: 'ignore' },
  );
  return pem;
}

describe('browser sign-in pipeline: credential post and pending sign-in (Stryker gaps)', () => {
  let t: TestApp;
  let down: TestApp;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-pipeline-'));
    const ca = makeCa(dir);
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      passwordChange: { enabled: false },
      // Not listening in-process: only so that the server offers certificate sign-in.
      certificateAuth: {
        enabled: true,
        port: 49443,
        publicUrl: 'https://certauth.sts.fedgate.test',
        issuingCAs: [ca],
      },
    });
    // A directory nobody answers for (a closed loopback port): every credential check is "unavailable".
    down = await makeTestApp({
      directory: {
        kind: 'ldap',
        urls: ['ldaps://127.0.0.1:1'],
        baseDn: 'DC=fedgate,DC=test',
        bindDn: 'CN=svc,CN=Users,DC=fedgate,DC=test',
        bindPassword: 'unused',
        netbiosDomain: 'FEDGATE',
        upnSuffixes: [],
        tls: { ca },
        connectTimeoutMs: 1000,
        timeoutMs: 1000,
        poolSize: 1,
        maxQueueWaitMs: 1000,
      },
    });
  });
  after(async () => {
    await t.close();
    await down.close();
  });

  /** Opens a sign-in page for `query` (from the proxied client address); returns the jar and the page. */
  async function open(app: TestApp, query = '', jar = new Jar()) {
    const page = await request(app.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}${query}`)
      .set('Cookie', jar.header())
      .set('X-Forwarded-For', CLIENT);
    jar.take(page);
    assert.equal(page.status, 200, page.text.slice(0, 300));
    return { jar, page };
  }

  function post(app: TestApp, jar: Jar, body: Record<string, string>, origin?: string) {
    const r = request(app.app)
      .post('/adfs/ls/')
      .set('Cookie', jar.header())
      .set('X-Forwarded-For', CLIENT)
      .type('form');
    if (origin !== undefined) r.set('Origin', origin);
    return r.send(body);
  }

  test('a form post without AuthState is a protocol message (MS-MWBF POST), not a credential post', async () => {
    const res = await request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({ wa: 'wsignin1.0', wtrealm: M365 });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.match(res.text, /name="AuthState"/);
  });

  test('a certificate-only request refuses a password post even with its form token (wauth=tlsclient)', async () => {
    const { jar, page } = await open(t, `&wauth=${TLS_CLIENT}`);
    assert.doesNotMatch(page.text, /name="Password"/);
    const link = /<a id="certificateLink" href="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(link !== undefined, 'the certificate link is offered');
    const authState = new URL(decodeEntities(link)).searchParams.get('AuthState') ?? '';
    // The page shows no password form, so no form token: read it from the store, as a client that forged the
    // form would have to know it. Only the method check is left to refuse.
    const pending = await t.services.store.find<{ csrf: string }>('pendingSignIn', authState);
    assert.ok(pending !== undefined);
    const before = t.logs.events('signin').length;
    const res = await post(t, jar, {
      AuthState: authState,
      csrf: pending.csrf,
      UserName: USER,
      Password: PASSWORD,
    });
    assertErrorPage(res, 400, 'bad_request');
    assert.ok(
      res.text.includes('This application requires signing in with a certificate (smart card).'),
    );
    assert.equal(t.logs.events('signin').length, before, 'no password was checked');
  });

  test('a password-only request takes the password post (wauth=…/password)', async () => {
    const { jar, page } = await open(t, `&wauth=${PASSWORD_METHOD}`);
    const res = await post(t, jar, formOf(page, USER, PASSWORD));
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.match(res.text, /name="wresult"/);
  });

  test('a refused form is audited with the client address, activity id and the Origin verdict (C5.1, C7)', async () => {
    const { jar, page } = await open(t);
    const res = await post(t, jar, formOf(page, USER, PASSWORD), 'https://evil.example');
    assertErrorPage(res, 403, 'csrf_failed');
    const activityId = res.headers['x-activity-id'];
    const line = t.logs.events('csrf_rejected').find((e) => e.activityId === activityId);
    assert.ok(line !== undefined, 'csrf_rejected line for this request');
    assert.equal(line.ip, CLIENT);
    assert.equal(line.originOk, false);
  });

  test('a password attempt is audited as forms sign-in from the client address', async () => {
    const { jar, page } = await open(t);
    const res = await post(t, jar, formOf(page, USER, 'wrong-password'));
    assert.equal(res.status, 200);
    const activityId = res.headers['x-activity-id'];
    const line = t.logs.events('signin').find((e) => e.activityId === activityId);
    assert.ok(line !== undefined, 'signin line for this request');
    assert.equal(line.ip, CLIENT);
    assert.equal(line.method, 'forms');
  });

  test('a form without a Password field is an empty password (C4.5): refused as such, not as a wrong password', async () => {
    const { jar, page } = await open(t);
    const { Password: _omit, ...noPassword } = formOf(page, USER, '');
    const res = await post(t, jar, noPassword);
    assert.equal(res.status, 200);
    assert.ok(res.text.includes(GENERIC_FAILURE));
    const activityId = res.headers['x-activity-id'];
    const line = t.logs.events('signin').find((e) => e.activityId === activityId);
    assert.ok(line !== undefined, 'signin line for this request');
    assert.equal(line.reason, 'empty_password');
  });

  test('an unreachable directory gives the 503 page, not the wrong-password form', async () => {
    const { jar, page } = await open(down);
    const res = await post(down, jar, formOf(page, USER, PASSWORD));
    assertErrorPage(res, 503, 'directory_unavailable');
    assert.ok(res.text.includes('The sign-in service cannot check your password right now.'));
    assert.ok(!res.text.includes(GENERIC_FAILURE));
    assert.doesNotMatch(res.text, /name="Password"/);
  });

  test('after a failure the user name is shown again, up to the form limit of 256 characters', async () => {
    const fits = `${'u'.repeat(256 - '@fedgate.test'.length)}@fedgate.test`;
    const tooLong = `u${fits}`;
    for (const [name, shown] of [
      [fits, true],
      [tooLong, false],
    ] as const) {
      const { jar, page } = await open(t);
      const res = await post(t, jar, formOf(page, name, 'wrong-password'));
      assert.equal(res.status, 200);
      assert.ok(res.text.includes(GENERIC_FAILURE));
      const value = /id="userNameInput" name="UserName" type="text" dir="ltr" value="([^"]*)"/.exec(
        res.text,
      )?.[1];
      assert.equal(value, shown ? name : '', `${name.length} characters`);
    }
  });
  test('the 11th attempt on one sign-in page ends it: even the right password is refused afterwards', async () => {
    const { jar, page } = await open(t);
    // An unknown account, so that smart lockout of a real one plays no part.
    const form = formOf(page, 'nobody@fedgate.test', 'wrong-password');
    for (let i = 0; i < 10; i++) assert.equal((await post(t, jar, form)).status, 200);
    const capped = await post(t, jar, form);
    assertErrorPage(capped, 400, 'session_expired');
    assert.ok(capped.text.includes('Too many attempts on this sign-in page.'));
    assert.equal(await t.services.store.find('pendingSignIn', form.AuthState), undefined);
    const after = await post(t, jar, { ...form, UserName: USER, Password: PASSWORD });
    assertErrorPage(after, 400, 'session_expired');
  });

  test('handles are whole random tokens: a foreign character before or after is refused, not looked up', async () => {
    const { jar, page } = await open(t);
    const form = formOf(page, USER, PASSWORD);
    for (const bad of [`!${form.AuthState}`, `${form.AuthState}!`]) {
      const res = await post(t, jar, { ...form, AuthState: bad });
      assertErrorPage(res, 400, 'bad_request');
      assert.ok(res.text.includes('The sign-in form is malformed.'));
    }
    // The same for the sign-in cookie the form is bound to (login CSRF, C5.1).
    for (const bad of [`!${'B'.repeat(22)}`, `${'B'.repeat(22)}!`]) {
      const res = await request(t.app)
        .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}`)
        .set('Cookie', `${SIGNIN_COOKIE}=${bad}`);
      assertErrorPage(res, 400, 'bad_request');
      assert.doesNotMatch(res.text, /name="AuthState"/);
    }
    // The genuine form still signs in.
    const ok = await post(t, jar, form);
    assert.match(ok.text, /name="wresult"/);
  });

  test('an SSO session counts only for the method it was made with (password session, certificate request)', async () => {
    const { res, jar } = await signIn(t.app, { username: USER, password: PASSWORD });
    assert.match(res.text, /name="wresult"/);
    // wauth=tlsclient: the password session does not answer; the user is asked for a certificate.
    const cert = await open(t, `&wauth=${TLS_CLIENT}`, jar);
    assert.doesNotMatch(cert.page.text, /name="wresult"/);
    assert.match(cert.page.text, /id="certificateLink"/);
    // wauth=…/password: the same session answers at once.
    const pw = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wauth=${PASSWORD_METHOD}`)
      .set('Cookie', jar.header());
    assert.equal(pw.status, 200);
    assert.match(pw.text, /name="wresult"/);
  });

  test('the username hint is shown only when short, printable and not blank', async () => {
    const fits = `${'h'.repeat(256 - '@fedgate.test'.length)}@fedgate.test`;
    for (const [hint, shown] of [
      [fits, fits],
      [`h${fits}`, ''],
      ['bob\u0007@fedgate.test', ''],
      ['   ', ''],
    ] as const) {
      const { page } = await open(t, `&username=${encodeURIComponent(hint)}`);
      // A kept hint names the user (hidden field, issue 17); a refused one leaves the empty user-name field.
      const value = (/<input type="hidden" name="UserName" value="([^"]*)">/.exec(page.text) ??
        /id="userNameInput" name="UserName" type="text" dir="ltr" value="([^"]*)"/.exec(
          page.text,
        ))?.[1];
      assert.equal(
        value === undefined ? undefined : decodeEntities(value),
        shown,
        JSON.stringify(hint.slice(0, 20)),
      );
    }
  });
});

describe('browser sign-in pipeline: a party removed while its sign-in page is open', () => {
  test('the credential post gets the expired-page error, not a server error', async () => {
    const t = await samlApp(
      [{ file: 'sp', metadataXml: spMetadata(standardSp()), trust: { idpInitiated: true } }],
      { saml2: { idpInitiatedSignOn: true } },
    );
    try {
      const jar = new Jar();
      const page = await request(t.app)
        .get(`/adfs/ls/idpinitiatedsignon?LoginToRP=${encodeURIComponent(SP_ID)}`)
        .set('Cookie', jar.header());
      jar.take(page);
      assert.equal(page.status, 200, page.text.slice(0, 300));
      // What a metadata refresh does when the SP's trust file is gone (trust/saml-trusts.ts).
      t.services.trusts.removeSaml(SP_ID);
      assert.equal(t.services.trusts.find(SP_ID), undefined);
      const res = await submitCredentials(t.app, jar, page.text);
      assertErrorPage(res, 400, 'session_expired');
      assert.ok(res.text.includes('Your sign-in page expired.'));
      assert.doesNotMatch(res.text, /name="SAMLResponse"/);
    } finally {
      await t.close();
    }
  });
});

// protocols/issuance/issue-token.ts: what the one issuance step must do for every protocol.
const CLIENT_APP_CLAIM =
  'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-application';
const APP = 'urn:fedgate:pipeline:client-app';
const APP_REPLY = 'https://app.pipeline.test/';

describe('issuance step: request context and the session participants (Stryker gaps)', () => {
  let t: TestApp;
  let cert: string;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-pipeline-issue-'));
    writeFileSync(
      join(dir, 'client-app.rules'),
      `@RuleName = "Pass the client application"\nc:[Type == "${CLIENT_APP_CLAIM}"] => issue(claim = c);\n` +
        '@RuleName = "Pass the account name"\n' +
        'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"] => issue(claim = c);\n',
    );
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      passwordChange: { enabled: false },
      relyingParties: [
        {
          identifier: APP,
          name: 'Client application rules',
          replyUrls: [APP_REPLY],
          issuanceRulesFile: join(dir, 'client-app.rules'),
        },
      ],
    });
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    const [c] = certFromMetadata(md.text);
    assert.ok(c !== undefined);
    cert = c;
  });
  after(async () => {
    await t.close();
  });

  const claimsOf = (assertion: string) => {
    assert.ok(verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR).ok);
    return verifySaml11WithXmlCrypto(assertion, cert).attributes;
  };

  test('X-MS-Client-Application reaches the rules only on an active (WS-Trust) request, as in AD FS', async () => {
    // Browser: a page (or script) cannot put a client application into the token by sending the header.
    const jar = new Jar();
    const page = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(APP)}`)
      .set('X-MS-Client-Application', 'Microsoft.Exchange.ActiveSync');
    jar.take(page);
    const res = await request(t.app)
      .post('/adfs/ls/')
      .set('Cookie', jar.header())
      .set('X-MS-Client-Application', 'Microsoft.Exchange.ActiveSync')
      .type('form')
      .send(formOf(page, USER, PASSWORD));
    assert.equal(res.status, 200, res.text.slice(0, 300));
    const browser = claimsOf(extractAssertionFromRstr(hidden(res.text, 'wresult')));
    assert.deepEqual(
      browser['http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname'],
      ['FEDGATE\\alice'],
    );
    assert.equal(browser[CLIENT_APP_CLAIM], undefined);
    // WS-Trust: the client names itself (Exchange Online relays it), and the rules see it.
    const o = { version: V13, username: USER, password: PASSWORD, appliesTo: APP, now: new Date() };
    let r = request(t.app).post(V13.path);
    for (const [k, v] of Object.entries(rstHeaders(o))) r = r.set(k, v);
    const active = await r
      .set('X-Forwarded-Proto', 'https')
      .set('X-MS-Client-Application', 'Microsoft.Exchange.ActiveSync')
      .send(buildRst(o));
    assert.equal(active.status, 200, active.text.slice(0, 300));
    assert.deepEqual(claimsOf(extractAssertionFromRstr(active.text))[CLIENT_APP_CLAIM], [
      'Microsoft.Exchange.ActiveSync',
    ]);
  });

  test('a party given a token in the browser session is asked to clean up at sign-out (MS-MWBF 3.1.5.4.6)', async () => {
    const { res, jar } = await signIn(t.app, { username: USER, password: PASSWORD, realm: APP });
    assert.match(res.text, /name="wresult"/);
    const out = await request(t.app).get('/adfs/ls/?wa=wsignout1.0').set('Cookie', jar.header());
    assert.equal(out.status, 200);
    const cleanups = [...out.text.matchAll(/<img[^>]* src="([^"]+)"/g)].map(
      (m) => new URL(decodeEntities(m[1] ?? '')),
    );
    assert.ok(
      cleanups.some(
        (u) =>
          u.origin === new URL(APP_REPLY).origin &&
          u.searchParams.get('wa') === 'wsignoutcleanup1.0',
      ),
      out.text.slice(0, 600),
    );
  });
});
