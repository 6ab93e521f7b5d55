// Browser hardening (security-corpus C5.1-C5.3, C5.5): the security headers and cookie attributes of EVERY HTML
// page fedgate serves, over real TLS and behind a trusted TLS-terminating proxy (X-Forwarded-Proto); session
// fixation; server-side sign-out; login and password-change CSRF. Embedded demo directory (alice, bob; dave has
// an expired password), so no AD account's state is touched.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import request from 'supertest';
import { loadOrCreateTlsCredential } from '../../server/keys/index.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import { Jar, M365, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';

const SSO = '__Host-fedgate_sso';
const DENY_RP = 'urn:fedgate:test:denied';
const DEMO_PASSWORD = 'Passw0rd!';

/** How a page is reached: over real TLS, or over HTTP from a trusted proxy that says the client used https. */
interface Transport {
  name: string;
  target(): Express | HttpsServer;
  headers: Record<string, string>;
  ca?: string | undefined;
}

type Res = request.Response;

function get(tr: Transport, path: string, jar?: Jar, extra: Record<string, string> = {}) {
  const r = request(tr.target()).get(path);
  if (tr.ca !== undefined) void r.ca(tr.ca);
  r.set({ ...tr.headers, ...extra });
  if (jar !== undefined) r.set('Cookie', jar.header());
  return r;
}

function post(
  tr: Transport,
  path: string,
  form: Record<string, string>,
  jar?: Jar,
  extra: Record<string, string> = {},
) {
  const r = request(tr.target()).post(path);
  if (tr.ca !== undefined) void r.ca(tr.ca);
  r.set({ ...tr.headers, ...extra });
  if (jar !== undefined) r.set('Cookie', jar.header());
  return r.type('form').send(form);
}

const signinPath = (realm = M365, extra: Record<string, string> = {}): string =>
  `/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: realm, ...extra }).toString()}`;

/** GET the sign-in form and post credentials; the jar carries the cookies. */
async function signInVia(
  tr: Transport,
  o: { username: string; password: string; realm?: string; jar?: Jar; fresh?: boolean },
): Promise<{ page: Res; res: Res; jar: Jar }> {
  const jar = o.jar ?? new Jar();
  const page = await get(tr, signinPath(o.realm, o.fresh === false ? {} : { wfresh: '0' }), jar);
  jar.take(page);
  const res = await post(
    tr,
    '/adfs/ls/',
    {
      AuthState: hidden(page.text, 'AuthState'),
      csrf: hidden(page.text, 'csrf'),
      UserName: o.username,
      Password: o.password,
    },
    jar,
  );
  jar.take(res);
  return { page, res, jar };
}

function setCookies(res: Res): string[] {
  const v = res.headers['set-cookie'] as unknown;
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

function cookieValue(res: Res, name: string): string | undefined {
  for (const c of setCookies(res)) {
    const [pair = ''] = c.split(';');
    const eq = pair.indexOf('=');
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** Every cookie: __Host- prefix, Secure, HttpOnly, SameSite as below, Path=/, no Domain (C5.1). */
function assertCookies(label: string, res: Res): number {
  const list = setCookies(res);
  for (const c of list) {
    const [pair = '', ...attrs] = c.split(';').map((x) => x.trim());
    const lower = attrs.map((a) => a.toLowerCase());
    assert.ok(pair.startsWith('__Host-'), `${label}: cookie ${pair} lacks the __Host- prefix`);
    assert.ok(lower.includes('secure'), `${label}: ${c} not Secure`);
    assert.ok(lower.includes('httponly'), `${label}: ${c} not HttpOnly`);
    // The SSO cookie must reach the protocol endpoints on a service provider's cross-site POST (issue 14 §2):
    // SameSite=None, as AD FS's. Every other cookie is Lax or Strict (login CSRF, C5.1).
    const expected = pair.startsWith('__Host-fedgate_sso=')
      ? ['samesite=none']
      : ['samesite=lax', 'samesite=strict'];
    assert.ok(
      lower.some((a) => expected.includes(a)),
      `${label}: ${c} SameSite (expected ${expected.join(' or ')})`,
    );
    assert.ok(lower.includes('path=/'), `${label}: ${c} Path=/`);
    assert.ok(!lower.some((a) => a.startsWith('domain=')), `${label}: ${c} has a Domain`);
  }
  return list.length;
}

/** The headers every HTML page carries (C5.3) and what it must never show (C5.5). */
function assertHardened(label: string, res: Res, expectHsts: boolean): void {
  assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/i, label);
  const hsts = res.headers['strict-transport-security'];
  if (expectHsts) {
    assert.ok(hsts !== undefined, `${label}: no HSTS`);
    assert.match(hsts, /max-age=31536000/, label);
  } else {
    assert.equal(hsts, undefined, `${label}: HSTS over plain HTTP (RFC 6797 §7.2)`);
  }
  const csp = res.headers['content-security-policy'] ?? '';
  assert.match(csp, /(^|;)\s*frame-ancestors 'none'(;|$)/, `${label}: CSP ${csp}`);
  assert.match(csp, /(^|;)\s*default-src 'none'(;|$)/, `${label}: CSP ${csp}`);
  assert.match(csp, /(^|;)\s*base-uri 'none'(;|$)/, `${label}: CSP ${csp}`);
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), `${label}: CSP ${csp}`);
  assert.equal(res.headers['x-frame-options'], 'DENY', label);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', label);
  assert.match(
    res.headers['referrer-policy'] ?? '',
    /^(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin)$/,
    `${label}: Referrer-Policy`,
  );
  assert.match(res.headers['cache-control'] ?? '', /\bno-store\b/, `${label}: no-store`);
  assert.match(res.headers['x-activity-id'] ?? '', /^[0-9a-f-]{36}$/, label);
  assert.equal(res.headers['x-powered-by'], undefined, label);
  assert.ok(!/\n\s+at [^\n]+:\d+:\d+/.test(res.text), `${label}: stack trace in page`);
}

interface Page {
  name: string;
  status: number;
  /** What identifies the page (so a wrong page cannot pass). */
  marker: RegExp;
  fetch(tr: Transport): Promise<Res>;
}

const PAGES: Page[] = [
  {
    name: 'sign-in page',
    status: 200,
    marker: /name="AuthState"/,
    fetch: (tr) => get(tr, signinPath()),
  },
  {
    name: 'sign-in page after a wrong password',
    status: 200,
    marker: new RegExp(GENERIC_FAILURE.slice(0, 30)),
    fetch: async (tr) => (await signInVia(tr, { username: 'alice', password: 'wrong-pw' })).res,
  },
  {
    name: 'token auto-POST page',
    status: 200,
    marker: /name="wresult"/,
    fetch: async (tr) => (await signInVia(tr, { username: 'bob', password: DEMO_PASSWORD })).res,
  },
  {
    name: 'WS-Fed error: unknown realm',
    status: 400,
    marker: /Activity ID/,
    fetch: (tr) => get(tr, signinPath('urn:nobody:knows')),
  },
  {
    name: 'WS-Fed error: unsupported wa',
    status: 400,
    marker: /Activity ID/,
    fetch: (tr) => get(tr, '/adfs/ls/?wa=wsignin9.9'),
  },
  {
    name: 'WS-Fed error: repeated parameter',
    status: 400,
    marker: /Activity ID/,
    fetch: (tr) => get(tr, `${signinPath()}&wtrealm=x`),
  },
  {
    name: 'SAML error: undecodable SAMLRequest',
    status: 400,
    marker: /Activity ID/,
    fetch: (tr) => get(tr, '/adfs/ls/?SAMLRequest=%25%25not-deflate%25%25'),
  },
  {
    name: 'SAML error: POSTed garbage SAMLRequest',
    status: 400,
    marker: /Activity ID/,
    fetch: (tr) => post(tr, '/adfs/ls/', { SAMLRequest: 'PD94bWwgdmVyc2lvbj0iMS4wIj8+PGE+' }),
  },
  {
    name: 'access denied',
    status: 403,
    marker: /You do not have access to this application/,
    fetch: async (tr) =>
      (await signInVia(tr, { username: 'alice', password: DEMO_PASSWORD, realm: DENY_RP })).res,
  },
  {
    name: 'signed-out page',
    status: 200,
    marker: /signed out/i,
    fetch: (tr) => get(tr, '/adfs/ls/?wa=wsignout1.0'),
  },
  {
    name: 'update-password page',
    status: 200,
    marker: /name="Ticket"/,
    fetch: (tr) => get(tr, '/adfs/portal/updatepassword/'),
  },
  {
    name: 'change-password page in a sign-in (expired password)',
    status: 200,
    marker: /name="Ticket"/,
    fetch: async (tr) => (await signInVia(tr, { username: 'dave', password: DEMO_PASSWORD })).res,
  },
  {
    name: 'IdP-initiated sign-on page',
    status: 200,
    marker: /Sign in to one of these sites/,
    fetch: (tr) => get(tr, '/adfs/ls/idpinitiatedsignon'),
  },
  {
    name: '404 page',
    status: 404,
    marker: /Page not found/,
    fetch: (tr) => get(tr, '/adfs/nothing-here'),
  },
  {
    name: '405 page',
    status: 405,
    marker: /Method not allowed/,
    fetch: async (tr) => {
      const r = request(tr.target()).put('/adfs/ls/');
      if (tr.ca !== undefined) void r.ca(tr.ca);
      return r.set(tr.headers);
    },
  },
  {
    name: 'token test page (built-in test relying party)',
    status: 400,
    marker: /Token test|token/i,
    fetch: (tr) => post(tr, '/adfs/test/result', { wa: 'wsignin1.0', wresult: '<x/>' }),
  },
];

describe('browser hardening: every HTML page, cookies, fixation, sign-out, CSRF', () => {
  let t: TestApp;
  let tls: HttpsServer;
  let certPem: string;
  let proxied: Transport;
  let overTls: Transport;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-hardening-'));
    writeFileSync(
      join(dir, 'deny.rules'),
      '@RuleName = "Nobody"\n => issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "true");\n',
    );
    t = await makeTestApp({
      hostname: 'localhost',
      publicUrl: 'https://localhost',
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      relyingParties: [
        {
          identifier: DENY_RP,
          name: 'Denied app',
          replyUrls: ['https://denied.fedgate.test/'],
          authorizationRulesFile: join(dir, 'deny.rules'),
        },
      ],
      saml2: { idpInitiatedSignOn: true },
      // Many deliberate failures from one loopback address in this file.
      lockout: {
        spray: { maxFailuresPerSource: 10_000, distinctAccountsAlert: 10_000, windowMinutes: 10 },
      },
      passwordChange: { enabled: true, maxAttemptsPerSource: 10_000 },
    });
    const cred = await loadOrCreateTlsCredential({
      dir: join(dir, 'tls'),
      hostname: 'localhost',
      clock: systemClock,
    });
    certPem = cred.certPem;
    tls = createHttpsServer({ cert: cred.certPem, key: cred.keyPem, minVersion: 'TLSv1.2' }, t.app);
    proxied = {
      name: 'behind a trusted proxy (X-Forwarded-Proto: https)',
      target: () => t.app,
      headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.200' },
    };
    overTls = { name: 'over TLS', target: () => tls, headers: {}, ca: certPem };
  });
  after(async () => {
    await t.close();
  });

  for (const page of PAGES) {
    test(`headers and cookies: ${page.name}`, async () => {
      let cookies = 0;
      for (const tr of [proxied, overTls]) {
        const res = await page.fetch(tr);
        const label = `${page.name} ${tr.name}`;
        assert.equal(res.status, page.status, `${label}: ${res.text.slice(0, 400)}`);
        assert.match(res.text, page.marker, label);
        assertHardened(label, res, true);
        cookies += assertCookies(label, res);
      }
      if (/sign-in page$|token auto-POST|signed-out|update-password page/.test(page.name))
        assert.ok(cookies > 0, `${page.name}: expected cookies to check`);
    });
  }

  test('HSTS only over https: not on plain HTTP, nor when an untrusted peer claims https', async () => {
    const plain: Transport = { name: 'plain HTTP', target: () => t.app, headers: {} };
    const res = await get(plain, signinPath());
    assert.equal(res.status, 200);
    assertHardened('sign-in page over plain HTTP', res, false);
    const untrusted = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: [] },
    });
    try {
      const spoof = await request(untrusted.app)
        .get('/adfs/nothing-here')
        .set('X-Forwarded-Proto', 'https');
      assert.equal(spoof.status, 404);
      assertHardened('404 with X-Forwarded-Proto from an untrusted peer', spoof, false);
    } finally {
      await untrusted.close();
    }
  });

  test('session fixation: a planted session cookie is never the session after sign-in (C5.2)', async () => {
    const tr = proxied;
    // (a) an attacker-chosen value
    const planted = 'attacker-chosen-session-id-0123456789abcdef';
    const jar = new Jar();
    const page = await get(tr, signinPath(), jar, { Cookie: `${SSO}=${planted}` });
    jar.take(page);
    const res = await post(
      tr,
      '/adfs/ls/',
      {
        AuthState: hidden(page.text, 'AuthState'),
        csrf: hidden(page.text, 'csrf'),
        UserName: 'alice',
        Password: DEMO_PASSWORD,
      },
      undefined,
      { Cookie: `${jar.header()}; ${SSO}=${planted}` },
    );
    assert.match(res.text, /name="wresult"/);
    const issued = cookieValue(res, SSO);
    assert.ok(issued !== undefined && issued !== '' && issued !== planted);

    // (b) the attacker's own live session planted in the victim's browser
    const attacker = await signInVia(tr, { username: 'bob', password: DEMO_PASSWORD });
    const attackerSession = attacker.jar.get(SSO);
    assert.ok(attackerSession !== undefined);
    const victim = new Jar();
    victim.take({ headers: { 'set-cookie': [`${SSO}=${attackerSession}; Path=/`] } });
    const signedIn = await signInVia(tr, {
      username: 'alice',
      password: DEMO_PASSWORD,
      jar: victim,
    });
    assert.match(signedIn.res.text, /name="wresult"/);
    const victimSession = cookieValue(signedIn.res, SSO);
    assert.ok(victimSession !== undefined && victimSession !== attackerSession, 'new session id');
    // The planted session ended server-side: replaying it gets the sign-in form, not bob's SSO.
    const replay = await get(tr, signinPath(), undefined, { Cookie: `${SSO}=${attackerSession}` });
    assert.equal(replay.status, 200);
    assert.match(replay.text, /name="AuthState"/);
    assert.ok(!replay.text.includes('name="wresult"'));
  });

  test('sign-out destroys the server-side session: the old cookie gives no SSO afterwards (C5.2)', async () => {
    const tr = proxied;
    const { jar, res } = await signInVia(tr, { username: 'alice', password: DEMO_PASSWORD });
    assert.match(res.text, /name="wresult"/);
    const cookie = jar.get(SSO);
    assert.ok(cookie !== undefined);
    // Before sign-out the cookie gives SSO (a token without the form), so the check below can fail.
    const sso = await get(tr, signinPath(), undefined, { Cookie: `${SSO}=${cookie}` });
    assert.match(sso.text, /name="wresult"/);
    const out = await get(tr, '/adfs/ls/?wa=wsignout1.0', undefined, {
      Cookie: `${SSO}=${cookie}`,
    });
    assert.equal(out.status, 200);
    const cleared = setCookies(out).find((c) => c.startsWith(`${SSO}=`));
    assert.ok(cleared !== undefined && /max-age=0/i.test(cleared), 'cookie cleared');
    assert.equal(t.logs.events('signout').length > 0, true);
    // An attacker who kept the cookie (or a browser that ignored the clear) gets nothing.
    const replay = await get(tr, signinPath(), undefined, { Cookie: `${SSO}=${cookie}` });
    assert.equal(replay.status, 200);
    assert.match(replay.text, /name="AuthState"/);
    assert.ok(!replay.text.includes('name="wresult"'));
  });

  test('login CSRF: missing or wrong token, foreign Origin, missing binding cookie → 403 page (C5.1)', async () => {
    const tr = proxied;
    const cases: {
      name: string;
      form?: (f: Record<string, string>) => void;
      headers?: Record<string, string>;
      noCookie?: boolean;
    }[] = [
      { name: 'no token', form: (f) => delete f.csrf },
      {
        name: 'wrong token',
        form: (f) => (f.csrf = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
      },
      { name: 'foreign Origin', headers: { Origin: 'https://evil.example' } },
      { name: 'no binding cookie', noCookie: true },
    ];
    for (const c of cases) {
      const jar = new Jar();
      const page = await get(tr, signinPath(), jar);
      jar.take(page);
      const form: Record<string, string> = {
        AuthState: hidden(page.text, 'AuthState'),
        csrf: hidden(page.text, 'csrf'),
        UserName: 'alice',
        Password: DEMO_PASSWORD,
      };
      c.form?.(form);
      const res = await post(
        tr,
        '/adfs/ls/',
        form,
        c.noCookie === true ? undefined : jar,
        c.headers,
      );
      assert.equal(res.status, 403, c.name);
      assert.match(res.text, /The sign-in form could not be verified/, c.name);
      assert.match(res.text, /Activity ID/, c.name);
      assert.ok(!res.text.includes('name="wresult"'), c.name);
      assertHardened(`login CSRF ${c.name}`, res, true);
    }
    // The same form with its token, cookie and our Origin goes through (the cases above failed for their reason).
    const jar = new Jar();
    const page = await get(tr, signinPath(), jar);
    jar.take(page);
    const ok = await post(
      tr,
      '/adfs/ls/',
      {
        AuthState: hidden(page.text, 'AuthState'),
        csrf: hidden(page.text, 'csrf'),
        UserName: 'alice',
        Password: DEMO_PASSWORD,
      },
      jar,
      { Origin: 'https://localhost' },
    );
    assert.match(ok.text, /name="wresult"/);
  });

  test('change-password CSRF: portal and in-sign-in forms refuse a missing or wrong token (C5.1, C1.9)', async () => {
    const tr = proxied;
    const forms: { name: string; open(): Promise<{ page: Res; jar: Jar }> }[] = [
      {
        name: 'portal',
        open: async () => {
          const jar = new Jar();
          const page = await get(tr, '/adfs/portal/updatepassword/', jar);
          jar.take(page);
          return { page, jar };
        },
      },
      {
        name: 'expired password in a sign-in',
        open: async () => {
          const r = await signInVia(tr, { username: 'dave', password: DEMO_PASSWORD });
          return { page: r.res, jar: r.jar };
        },
      },
    ];
    for (const f of forms) {
      for (const bad of ['missing', 'wrong', 'foreign-origin'] as const) {
        const { page, jar } = await f.open();
        const form: Record<string, string> = {
          Ticket: hidden(page.text, 'Ticket'),
          csrf: hidden(page.text, 'csrf'),
          UserName: 'dave',
          OldPassword: DEMO_PASSWORD,
          NewPassword: 'N3w-Passw0rd!x',
          ConfirmNewPassword: 'N3w-Passw0rd!x',
        };
        if (bad === 'missing') delete form.csrf;
        if (bad === 'wrong') form.csrf = 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
        const res = await post(
          tr,
          '/adfs/portal/updatepassword/',
          form,
          jar,
          bad === 'foreign-origin' ? { Origin: 'https://evil.example' } : {},
        );
        const label = `${f.name} ${bad}`;
        assert.equal(res.status, 403, label);
        assert.match(res.text, /The form could not be verified/, label);
        assert.match(res.text, /Activity ID/, label);
        assertHardened(`change-password CSRF ${label}`, res, true);
      }
    }
    assert.ok(
      t.logs.events('csrf_rejected').filter((e) => e.form === 'update-password').length >= 6,
    );
    // dave's password was never changed by any of those posts: the old one still reaches the change page.
    const still = await signInVia(tr, { username: 'dave', password: DEMO_PASSWORD });
    assert.match(still.res.text, /name="Ticket"/);
  });
});
