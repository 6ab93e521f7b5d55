import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import {
  Jar,
  M365,
  formAction,
  hidden,
  makeTestApp,
  signIn,
  type TestApp,
} from '../helpers/app.ts';

// Negative tests for the WS-Fed passive endpoint: every hostile or malformed request gets a clear page with an
// activity id, never a stack trace, never a redirect to an unregistered address, and the server stays up.
// Cases are numbered after ../shared/security-corpus.md.

const realm = encodeURIComponent(M365);

function assertCleanErrorPage(res: request.Response, status: number, code?: string): void {
  assert.equal(res.status, status, `status (body: ${res.text.slice(0, 300)})`);
  assert.match(res.headers['content-type'] ?? '', /text\/html/);
  const id = res.headers['x-activity-id'];
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  assert.ok(res.text.includes(String(id)), 'the page shows the activity id');
  if (code !== undefined) assert.ok(res.text.includes(code), `error code ${code} on the page`);
  assert.doesNotMatch(
    res.text,
    /\n\s+at [\w.<>]+ \(|node_modules|\/server\/|Error: /,
    'no stack trace or internals',
  );
  assert.equal(res.headers.location, undefined, 'no redirect');
  assert.doesNotMatch(res.text, /name="wresult"/, 'no token');
}

/** Normalises a sign-in page so that responses for different failures can be compared byte for byte. */
function normalise(html: string, username: string): string {
  return (
    html
      .replace(/name="AuthState" value="[^"]*"/, 'name="AuthState" value="X"')
      .replace(/name="csrf" value="[^"]*"/, 'name="csrf" value="X"')
      // The resume address (the language picker's way back, "different account") carries the handle too.
      .replace(/AuthState(=|&#x3D;)[A-Za-z0-9_-]+/g, 'AuthState$1…')
      .split(username.replace(/&/g, '&amp;'))
      .join('USER')
  );
}

describe('WS-Fed passive endpoint: hostile and malformed input', () => {
  let t: TestApp;
  before(async () => {
    // Password change off: with it on, expired/must-change users get the change-password page (C1.9 covered in
    // tests/integration/password-change-samba.test.ts), not the generic failure C2.1 checks here.
    t = await makeTestApp({ passwordChange: { enabled: false } });
  });
  after(async () => {
    await t.close();
    // A last probe is in each test; this confirms the app object was usable to the end.
  });

  /** Opens a sign-in page and returns its cookie jar and a filled-in form. */
  async function openSignInForm(UserName: string, Password: string) {
    const jar = new Jar();
    const page = await request(t.app).get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}`);
    jar.take(page);
    const form = {
      AuthState: hidden(page.text, 'AuthState'),
      csrf: hidden(page.text, 'csrf'),
      UserName,
      Password,
    };
    return { jar, form };
  }

  async function stillUp(): Promise<void> {
    const p = await request(t.app).get('/adfs/probe');
    assert.equal(p.status, 200);
  }

  test('B3.2 unknown or missing wtrealm: error page before any sign-in form', async () => {
    assertCleanErrorPage(
      await request(t.app).get('/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Aevil'),
      400,
      'unknown_relying_party',
    );
    assertCleanErrorPage(await request(t.app).get('/adfs/ls/?wa=wsignin1.0'), 400, 'bad_request');
    assertCleanErrorPage(
      await request(t.app).get(
        '/adfs/ls/?wa=wsignin1.0&wtrealm=URN%3Afederation%3Amicrosoftonline',
      ),
      400,
      'unknown_relying_party',
    );
    await stillUp();
  });

  const hostileReplies = [
    'https://evil.example/',
    'https://login.microsoftonline.com.evil.example/login.srf',
    'https://login.microsoftonline.com@evil.example/login.srf',
    'http:evil.example',
    'http:%2f%5cevil.example',
    '//evil.example',
    '/\\evil.example',
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'HTTPS://EVIL.EXAMPLE/',
    'https://login.microsoftonline.com./login.srf',
    'http://login.microsoftonline.com/login.srf',
    'https://login.microsoftonline.com/login.srf.evil',
  ];
  for (const wreply of hostileReplies) {
    test(`B3.4 wreply refused: ${wreply}`, async () => {
      const res = await request(t.app).get(
        `/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wreply=${encodeURIComponent(wreply)}`,
      );
      assertCleanErrorPage(res, 400, 'invalid_reply_address');
      assert.ok(
        !res.text.toLowerCase().includes('evil.example'),
        'the hostile address is not echoed',
      );
    });
  }

  test('B3.4 a registered wreply is honoured', async () => {
    const { res } = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
      query: { wreply: 'https://login.microsoftonline.com/login.srf' },
    });
    assert.equal(formAction(res.text), 'https://login.microsoftonline.com/login.srf');
  });

  test('C2.1 wrong password, unknown user, disabled, expired, must-change and locked look identical', async () => {
    const cases = [
      ['alice@fedgate.test', 'wrong'],
      ['nosuchuser@fedgate.test', 'Passw0rd!'],
      ['carol@fedgate.test', 'Passw0rd!'],
      ['dave@fedgate.test', 'Passw0rd!'],
      ['erin@fedgate.test', 'Passw0rd!'],
      ['mallory@fedgate.test', 'Passw0rd!'],
    ] as const;
    const seen: { status: number; headers: string; body: string }[] = [];
    for (const [username, password] of cases) {
      const { res } = await signIn(t.app, { username, password });
      assert.ok(res.text.includes(GENERIC_FAILURE), `${username}: generic message`);
      const headerNames = Object.keys(res.headers)
        .filter((h) => h !== 'date' && h !== 'x-activity-id' && h !== 'content-length')
        .sort()
        .join(',');
      seen.push({ status: res.status, headers: headerNames, body: normalise(res.text, username) });
    }
    for (const s of seen.slice(1)) {
      assert.equal(s.status, seen[0]!.status);
      assert.equal(s.headers, seen[0]!.headers);
      assert.equal(s.body, seen[0]!.body);
    }
    const reasons = t.logs
      .events('signin')
      .filter((e) => e.outcome === 'failure')
      .map((e) => e.kind);
    for (const k of [
      'bad_credentials',
      'disabled',
      'password_expired',
      'must_change_password',
      'locked',
    ]) {
      assert.ok(reasons.includes(k), `audit records the precise reason ${k}`);
    }
  });

  test('C4.1 LDAP injection strings and C4.5 empty passwords fail like any wrong credential', async () => {
    for (const username of [
      '*',
      'adm*',
      '*)(objectClass=*',
      'alice)(|(sAMAccountName=*',
      'alice\u0000',
      'alice)(userAccountControl:1.2.840.113556.1.4.803:=2',
      'FEDGATE\\*',
    ]) {
      const { res } = await signIn(t.app, { username, password: 'Passw0rd!' });
      assert.equal(res.status, 200);
      assert.ok(res.text.includes(GENERIC_FAILURE), JSON.stringify(username));
      assert.doesNotMatch(res.text, /name="wresult"/);
    }
    for (const password of ['', ' ', '\t']) {
      const { res } = await signIn(t.app, { username: 'alice@fedgate.test', password });
      assert.ok(res.text.includes(GENERIC_FAILURE));
      assert.doesNotMatch(res.text, /name="wresult"/);
    }
    await stillUp();
  });

  test('C5.1 login CSRF: missing or wrong token, missing cookie, or a foreign Origin is refused', async () => {
    const { jar, form } = await openSignInForm('alice@fedgate.test', 'Passw0rd!');
    const post = (body: Record<string, string>, cookie: string, origin?: string) => {
      const r = request(t.app).post('/adfs/ls/').set('Cookie', cookie).type('form');
      if (origin !== undefined) r.set('Origin', origin);
      return r.send(body);
    };
    const { csrf: _omit, ...noCsrf } = form;
    assertCleanErrorPage(await post(noCsrf, jar.header()), 403, 'csrf_failed');
    assertCleanErrorPage(
      await post({ ...form, csrf: 'A'.repeat(22) }, jar.header()),
      403,
      'csrf_failed',
    );
    assertCleanErrorPage(await post(form, ''), 403, 'csrf_failed');
    assertCleanErrorPage(
      await post(form, '__Host-fedgate_signin=BBBBBBBBBBBBBBBBBBBBBB'),
      403,
      'csrf_failed',
    );
    assertCleanErrorPage(
      await post(form, jar.header(), 'https://evil.example'),
      403,
      'csrf_failed',
    );
    // A sandboxed frame posts with Origin: null; fedgate's pages make browsers send the real origin instead.
    assertCleanErrorPage(await post(form, jar.header(), 'null'), 403, 'csrf_failed');
    // The genuine form still works afterwards (the rejected posts did not burn it).
    const ok = await post(form, jar.header(), 'https://sts.fedgate.test');
    assert.equal(ok.status, 200);
    assert.match(ok.text, /name="wresult"/);
    // …and only once.
    assertCleanErrorPage(await post(form, jar.header()), 400, 'session_expired');
  });

  test('an unknown or expired sign-in state gets a clear page', async () => {
    const res = await request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({ AuthState: 'A'.repeat(22), csrf: 'x', UserName: 'a', Password: 'b' });
    assertCleanErrorPage(res, 400, 'session_expired');
    assertCleanErrorPage(
      await request(t.app).post('/adfs/ls/').type('form').send({ AuthState: '../../etc/passwd' }),
      400,
      'bad_request',
    );
  });

  test('guessing on one sign-in page is capped', async () => {
    const { jar, form } = await openSignInForm('nobody@fedgate.test', 'x');
    for (let i = 0; i < 10; i++) {
      const r = await request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', jar.header())
        .type('form')
        .send(form);
      assert.equal(r.status, 200);
    }
    assertCleanErrorPage(
      await request(t.app).post('/adfs/ls/').set('Cookie', jar.header()).type('form').send(form),
      400,
      'session_expired',
    );
  });

  test('B1.5 oversize body (413) and oversize URL (414)', async () => {
    const big = 'x'.repeat(70 * 1024);
    assertCleanErrorPage(
      await request(t.app).post('/adfs/ls/').type('form').send(`AuthState=${big}`),
      413,
      'payload_too_large',
    );
    assertCleanErrorPage(
      await request(t.app).get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wctx=${'a'.repeat(9000)}`),
      414,
      'uri_too_long',
    );
    const many = Array.from({ length: 100 }, (_, i) => `p${i}=1`).join('&');
    assertCleanErrorPage(
      await request(t.app).post('/adfs/ls/').type('form').send(many),
      413,
      'payload_too_large',
    );
    await stillUp();
  });

  test('B1.6 malformed query strings and bodies', async () => {
    assertCleanErrorPage(
      await request(t.app).get(`/adfs/ls/?wa=wsignin1.0&wa=wsignout1.0&wtrealm=${realm}`),
      400,
      'bad_request',
    );
    assertCleanErrorPage(
      await request(t.app).get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wtrealm=urn%3Ax`),
      400,
      'bad_request',
    );
    assertCleanErrorPage(await request(t.app).get('/adfs/ls/?wa=%E0%A4%A&wtrealm=%ZZ'), 400);
    assertCleanErrorPage(
      await request(t.app).get('/adfs/ls/?wa=wattr1.0'),
      400,
      'unsupported_action',
    );
    assertCleanErrorPage(await request(t.app).get('/adfs/ls/'), 400, 'bad_request');
    // SAML 2.0 is served on /adfs/ls/ too: a SAMLRequest that is not a SAML message is a clean 400.
    assertCleanErrorPage(await request(t.app).get('/adfs/ls/?SAMLRequest=abc'), 400, 'bad_request');
    assertCleanErrorPage(
      await request(t.app)
        .post('/adfs/ls/')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('%%%=%%%&AuthState=%E0'),
      400,
    );
    assertCleanErrorPage(
      await request(t.app)
        .post('/adfs/ls/')
        .set('Content-Type', 'application/x-www-form-urlencoded; charset=utf-16')
        .send('AuthState=x'),
      415,
    );
    assertCleanErrorPage(await request(t.app).put('/adfs/ls/'), 405, 'method_not_allowed');
    assertCleanErrorPage(await request(t.app).get('/adfs/nothing-here'), 404, 'not_found');
    await stillUp();
  });

  test('MS-MWBF wauth: a method fedgate cannot perform is refused, not silently downgraded', async () => {
    // (multipleauthn is a method fedgate performs: corpus-b B5.4 covers it, and its refusal without MFA methods.)
    const res = await request(t.app).get(
      `/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wauth=${encodeURIComponent('urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos')}`,
    );
    assertCleanErrorPage(res, 400, 'bad_request');
    const pw = await request(t.app).get(
      `/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wauth=${encodeURIComponent('http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password')}`,
    );
    assert.equal(pw.status, 200);
    // Certificate sign-in is off in this app: a request that accepts only a certificate cannot be served.
    const tls = await request(t.app).get(
      `/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&wauth=${encodeURIComponent('urn:ietf:rfc:2246')}`,
    );
    assertCleanErrorPage(tls, 400, 'bad_request');
    assert.doesNotMatch(tls.text, /name="Password"/);
  });

  test('B3.5/C5.4 wctx and the username hint are HTML-encoded, never executed', async () => {
    const payload = '"><script>alert(1)</script><input name="x';
    const page = await request(t.app).get(
      `/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}&username=${encodeURIComponent(payload)}`,
    );
    assert.ok(!page.text.includes('<script>alert(1)</script>'));
    const { res } = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
      query: { wctx: payload },
    });
    assert.ok(!res.text.includes('<script>alert(1)</script>'));
    assert.equal(hidden(res.text, 'wctx'), payload);
    assert.equal(
      (res.text.match(/<script/g) ?? []).length,
      1,
      'only the nonce-protected submit script',
    );
  });

  test('B3.11 Host and X-Forwarded-Host cannot change published addresses', async () => {
    const md = await request(t.app)
      .get('/federationmetadata/2007-06/federationmetadata.xml')
      .set('Host', 'evil.example')
      .set('X-Forwarded-Host', 'evil.example');
    assert.equal(md.status, 200);
    assert.ok(!md.text.includes('evil.example'));
    assert.ok(md.text.includes('https://sts.fedgate.test/adfs/ls/'));
    const { res } = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
      realm: 'urn:fedgate:test',
    });
    assert.ok(!res.text.includes('evil.example'));
  });

  test('C1.5 X-Forwarded-For from an untrusted peer is ignored', async () => {
    await signIn(t.app, { username: 'nobody@fedgate.test', password: 'x' });
    const r = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${realm}`)
      .set('X-Forwarded-For', '203.0.113.9');
    assert.equal(r.status, 200);
    const jar = new Jar();
    jar.take(r);
    await request(t.app)
      .post('/adfs/ls/')
      .set('Cookie', jar.header())
      .set('X-Forwarded-For', '203.0.113.9')
      .type('form')
      .send({
        AuthState: hidden(r.text, 'AuthState'),
        csrf: hidden(r.text, 'csrf'),
        UserName: 'spoof@fedgate.test',
        Password: 'x',
      });
    const ev = t.logs.events('signin').find((e) => e.username === 'spoof@fedgate.test');
    assert.ok(ev);
    assert.notEqual(ev.ip, '203.0.113.9');
  });
});
