/**
 * Issue 17, "The flow users expect": AD FS 2019's paginated sign-in (branding.signIn.paginated), the user name a
 * party hints (Entra's `username=`, a SAML AuthnRequest's Subject NameID) with "Sign in with a different account",
 * and "Keep me signed in" (branding.signIn.keepMeSignedIn: a persistent SSO cookie and the psso claim).
 *
 * Tokens are read with xml-crypto against the certificate of the published metadata (tests/helpers/verify.ts),
 * never with fedgate's code. The directory is the embedded demo one; its calls are counted by wrapping the real
 * provider's methods (nothing is replaced).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  Jar,
  M365,
  hidden,
  makeTestApp,
  postSignInForm,
  wsfedSignInUrl,
  type TestApp,
} from '../helpers/app.ts';
import { enrolAppFactor, MULTIPLE_AUTHN, oathtool } from '../helpers/mfa.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
} from '../helpers/verify.ts';
import {
  EMAIL,
  SP_ID,
  authnRequestXml,
  b64,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { attrOf, catalogue, textOf } from '../fixtures/branding-e2e/pages.ts';

const ALICE = { username: 'alice@fedgate.test', password: 'Passw0rd!' };
const PSSO = 'http://schemas.microsoft.com/2014/03/psso';
const SSO = '__Host-fedgate_sso';
const ALICE_APP = 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF';
const MFA_SECRET = 'fedgate-flow-options-mfa-secret-0123456789ab';

const wsfed = wsfedSignInUrl;

async function get(t: TestApp, path: string, jar: Jar): Promise<request.Response> {
  const res = await request(t.app)
    .get(path)
    .set('Cookie', jar.header())
    .set('Accept-Language', 'en');
  jar.take(res);
  return res;
}

async function post(
  t: TestApp,
  jar: Jar,
  page: string,
  fields: Record<string, string>,
): Promise<request.Response> {
  return postSignInForm(t.app, jar, page, fields, { 'Accept-Language': 'en' });
}

const hasPasswordField = (html: string): boolean => /type="password"/.test(html);
const setCookies = (res: request.Response): string[] =>
  ([] as string[]).concat(res.headers['set-cookie'] ?? []);
const ssoCookie = (res: request.Response): string | undefined =>
  setCookies(res).find((c) => c.startsWith(`${SSO}=`));

/** Counts every call to the directory provider (its own methods, wrapped, still doing the real work). */
function countDirectoryCalls(t: TestApp): { calls: string[]; restore(): void } {
  const dir = t.services.directory as unknown as Record<string, unknown>;
  const calls: string[] = [];
  const originals = new Map<string, unknown>();
  let proto: object | null = Object.getPrototypeOf(dir) as object | null;
  const names = new Set<string>(Object.keys(dir));
  while (proto !== null && proto !== Object.prototype) {
    for (const n of Object.getOwnPropertyNames(proto)) names.add(n);
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  for (const n of names) {
    const f = dir[n];
    if (n === 'constructor' || typeof f !== 'function') continue;
    originals.set(n, f);
    dir[n] = (...args: unknown[]): unknown => {
      calls.push(n);
      return (f as (...a: unknown[]) => unknown).apply(t.services.directory, args);
    };
  }
  return {
    calls,
    restore: () => {
      for (const n of originals.keys()) Reflect.deleteProperty(dir, n);
    },
  };
}

describe('issue 17: paginated sign-in (user name first)', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp({ branding: { signIn: { paginated: true } } });
  });
  after(async () => {
    await t.close();
  });

  test('the first page asks only for the user name; the next says who is signing in; the password signs in', async () => {
    const jar = new Jar();
    const first = await get(t, wsfed(M365), jar);
    assert.equal(first.status, 200);
    assert.equal(hidden(first.text, 'AuthMethod'), 'Identify');
    assert.ok(!hasPasswordField(first.text), 'no password field on the first page');
    assert.match(first.text, /id="userNameInput"/);
    assert.match(first.text, /id="nextButton"/);
    assert.ok(!/id="kmsiInput"/.test(first.text), 'no "Keep me signed in" unless enabled');

    const second = await post(t, jar, first.text, {
      AuthMethod: 'Identify',
      UserName: ` ${ALICE.username} `,
    });
    assert.equal(second.status, 200);
    assert.equal(textOf(second.text, 'signingInAs'), `Signing in as ${ALICE.username}`);
    assert.equal(hidden(second.text, 'UserName'), ALICE.username, 'the name in a hidden field');
    assert.ok(hasPasswordField(second.text));
    assert.ok(!/id="userNameInput"/.test(second.text), 'the name is not asked again');
    assert.equal(hidden(second.text, 'AuthMethod'), 'FormsAuthentication');
    assert.equal(hidden(second.text, 'AuthState'), hidden(first.text, 'AuthState'));
    assert.match(attrOf(second.text, 'differentAccount', 'href') ?? '', /&SwitchUser=1$/);

    const done = await post(t, jar, second.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: hidden(second.text, 'UserName'),
      Password: ALICE.password,
    });
    assert.equal(done.status, 200);
    assert.match(done.text, /name="wresult"/);
  });

  test('an empty (or blank, or control-character) user name gets a clear error and stays on the first page', async () => {
    for (const name of ['', '   ', 'a\u0000b']) {
      const jar = new Jar();
      const first = await get(t, wsfed(M365), jar);
      const res = await post(t, jar, first.text, { AuthMethod: 'Identify', UserName: name });
      assert.equal(res.status, 200, JSON.stringify(name));
      assert.equal(textOf(res.text, 'errorText'), catalogue('en')['msg.enterUserName']);
      assert.equal(hidden(res.text, 'AuthMethod'), 'Identify');
      assert.ok(!hasPasswordField(res.text));
    }
  });

  test('naming the user counts no attempt and never asks the directory', async () => {
    const jar = new Jar();
    const first = await get(t, wsfed(M365), jar);
    const spy = countDirectoryCalls(t);
    let page = first.text;
    try {
      // More than the per-request limit of attempts (10): naming is not an attempt.
      for (let i = 0; i < 12; i++) {
        const res = await post(t, jar, first.text, {
          AuthMethod: 'Identify',
          UserName: i % 2 === 0 ? ALICE.username : 'nobody@fedgate.test',
        });
        assert.equal(res.status, 200, `identify #${String(i + 1)}: ${res.text.slice(0, 200)}`);
        page = res.text;
      }
      assert.deepEqual(spy.calls, [], 'no directory call while naming the user');
    } finally {
      spy.restore();
    }
    const named = await post(t, jar, page, { AuthMethod: 'Identify', UserName: ALICE.username });
    const done = await post(t, jar, named.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: ALICE.username,
      Password: ALICE.password,
    });
    assert.match(done.text, /name="wresult"/, 'the password post is still allowed');
  });

  test('no enumeration: the page after naming an existing and a non-existing user is the same apart from the name and tokens', async () => {
    const pageFor = async (name: string): Promise<string> => {
      const jar = new Jar();
      const first = await get(t, wsfed(M365), jar);
      const res = await post(t, jar, first.text, { AuthMethod: 'Identify', UserName: name });
      assert.equal(res.status, 200);
      return res.text
        .replaceAll(hidden(first.text, 'AuthState'), 'AUTHSTATE')
        .replaceAll(hidden(first.text, 'csrf'), 'CSRF')
        .replaceAll(name, 'NAME');
    };
    const real = await pageFor('alice@fedgate.test');
    const fake = await pageFor('zorro@fedgate.test');
    assert.equal(real, fake);
    assert.match(real, /Signing in as NAME/);
  });
});

describe('issue 17: a user name the party hints, and "Sign in with a different account"', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp(
      [{ file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } }],
      { mfa: { methods: ['totp'], secrets: [MFA_SECRET] }, lockout: { enabled: false } },
    );
    await enrolAppFactor(t, 'alice', 'flowAlicePhone0000001', ALICE_APP);
  });
  after(async () => {
    await t.close();
  });

  function assertKnownUser(html: string, name: string, what: string): void {
    assert.equal(textOf(html, 'signingInAs'), `Signing in as ${name}`, what);
    assert.equal(hidden(html, 'UserName'), name, what);
    assert.ok(!/id="userNameInput"/.test(html), `${what}: no user name field`);
    assert.ok(hasPasswordField(html), what);
    assert.equal(
      attrOf(html, 'differentAccount', 'href'),
      `/adfs/ls/?AuthState=${hidden(html, 'AuthState')}&SwitchUser=1`,
      what,
    );
  }

  test("Entra's username= is shown as who is signing in; the other-account link forgets it", async () => {
    const jar = new Jar();
    const first = await get(t, wsfed(M365, { username: ALICE.username }), jar);
    assertKnownUser(first.text, ALICE.username, 'username=');
    const other = await get(t, attrOf(first.text, 'differentAccount', 'href') ?? '', jar);
    assert.equal(other.status, 200);
    assert.ok(!/id="signingInAs"/.test(other.text));
    assert.equal(attrOf(other.text, 'userNameInput', 'value'), '', 'the normal, empty form');
    assert.equal(hidden(other.text, 'AuthState'), hidden(first.text, 'AuthState'));
    assert.equal(hidden(other.text, 'csrf'), hidden(first.text, 'csrf'));
    // The switch is remembered: the sign-in shown again (by the picker's return) stays the normal form.
    const again = await get(t, `/adfs/ls/?AuthState=${hidden(first.text, 'AuthState')}`, jar);
    assert.ok(!/id="signingInAs"/.test(again.text));
    // Someone else signs in on it.
    const done = await post(t, jar, other.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: 'bob@fedgate.test',
      Password: 'Passw0rd!',
    });
    assert.match(done.text, /name="wresult"/, done.text.slice(0, 300));
    // Only the sign-in's own browser can switch.
    const stranger = await get(
      t,
      `/adfs/ls/?AuthState=${hidden(first.text, 'AuthState')}&SwitchUser=1`,
      new Jar(),
    );
    assert.equal(stranger.status, 400);
  });

  test('a SAML AuthnRequest Subject NameID is a login hint too', async () => {
    const xml = authnRequestXml({ issuer: SP_ID }).replace(
      '</saml:Issuer>',
      `</saml:Issuer><saml:Subject><saml:NameID Format="${EMAIL}">${ALICE.username}</saml:NameID></saml:Subject>`,
    );
    const jar = new Jar();
    const res = await request(t.app)
      .post('/adfs/ls/')
      .set('Accept-Language', 'en')
      .type('form')
      .send({ SAMLRequest: b64(xml) });
    jar.take(res);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assertKnownUser(res.text, ALICE.username, 'Subject NameID');
    const done = await post(t, jar, res.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: hidden(res.text, 'UserName'),
      Password: ALICE.password,
    });
    assert.match(done.text, /name="SAMLResponse"/);
  });

  test('"different account" also forgets a second-factor step begun for the hinted account', async () => {
    const jar = new Jar();
    const first = await get(
      t,
      wsfed(M365, { username: ALICE.username, wauth: MULTIPLE_AUTHN }),
      jar,
    );
    const mfa = await post(t, jar, first.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: ALICE.username,
      Password: ALICE.password,
    });
    assert.match(mfa.text, /id="totpForm"/);
    const resumeUrl = `/adfs/ls/?AuthState=${hidden(first.text, 'AuthState')}`;
    // Shown again without switching: still the MFA step.
    assert.match((await get(t, resumeUrl, jar)).text, /id="totpForm"/);
    const switched = await get(t, `${resumeUrl}&SwitchUser=1`, jar);
    assert.equal(switched.status, 200);
    assert.doesNotMatch(switched.text, /id="totpForm"/, 'the MFA state is gone');
    assert.match(switched.text, /id="userNameInput"/);
    // The old account's code no longer completes anything on this sign-in.
    const late = await request(t.app)
      .post('/adfs/ls/mfa')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(mfa.text, 'AuthState'),
        csrf: hidden(mfa.text, 'csrf'),
        Method: 'totp',
        Code: oathtool(ALICE_APP, t.services.clock.now()),
      });
    assert.doesNotMatch(late.text, /name="wresult"/);
  });
});

describe('issue 17: Keep me signed in', () => {
  const clock = new FixedClock(Date.UTC(2026, 11, 6, 9, 0, 0));
  let on: TestApp;
  let off: TestApp;
  let cert: string;
  let offCert: string;
  before(async () => {
    on = await makeTestApp(
      { branding: { signIn: { keepMeSignedIn: true, keepMeSignedInHours: 8 } } },
      { clock },
    );
    off = await makeTestApp({}, { clock });
    const certOf = async (a: TestApp): Promise<string> => {
      const md = await request(a.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
      const [c] = certFromMetadata(md.text);
      assert.ok(c);
      return c;
    };
    cert = await certOf(on);
    offCert = await certOf(off);
  });
  after(async () => {
    await on.close();
    await off.close();
  });

  async function signInWith(
    a: TestApp,
    fields: Record<string, string>,
  ): Promise<{ res: request.Response; page: string }> {
    const jar = new Jar();
    const first = await get(a, wsfed(M365), jar);
    const res = await post(a, jar, first.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: ALICE.username,
      Password: ALICE.password,
      ...fields,
    });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    return { res, page: first.text };
  }
  const claimsOf = (res: request.Response, c: string) =>
    verifySaml11WithXmlCrypto(extractAssertionFromRstr(hidden(res.text, 'wresult')), c);

  test('the box appears only when the admin enables it', async () => {
    assert.match((await get(on, wsfed(M365), new Jar())).text, /id="kmsiInput"/);
    assert.doesNotMatch((await get(off, wsfed(M365), new Jar())).text, /id="kmsiInput"/);
  });

  test('ticked: a persistent SSO cookie of keepMeSignedInHours, and psso=true in the token', async () => {
    const { res } = await signInWith(on, { Kmsi: 'true' });
    const cookie = ssoCookie(res);
    assert.ok(cookie, 'an SSO cookie');
    assert.match(cookie, new RegExp(`Max-Age=${String(8 * 3600)}(;|$)`), cookie);
    const claims = claimsOf(res, cert);
    assert.deepEqual(claims.attributes[PSSO], ['true']);
  });

  test('not ticked: a browser-session cookie and no psso claim', async () => {
    const { res } = await signInWith(on, {});
    const cookie = ssoCookie(res);
    assert.ok(cookie);
    assert.doesNotMatch(cookie, /Max-Age|Expires/i, cookie);
    assert.equal(claimsOf(res, cert).attributes[PSSO], undefined);
  });

  test('a forged Kmsi=true where the admin has not enabled it: no psso, no persistent cookie', async () => {
    const { res } = await signInWith(off, { Kmsi: 'true' });
    const cookie = ssoCookie(res);
    assert.ok(cookie);
    assert.doesNotMatch(cookie, /Max-Age|Expires/i, cookie);
    assert.equal(claimsOf(res, offCert).attributes[PSSO], undefined);
  });
});

describe('issue 17: Keep me signed in with a second factor', () => {
  const clock = new FixedClock(Date.UTC(2026, 11, 6, 9, 0, 0));
  let t: TestApp;
  let cert: string;
  before(async () => {
    t = await makeTestApp(
      {
        branding: { signIn: { keepMeSignedIn: true, keepMeSignedInHours: 8 } },
        mfa: { methods: ['totp'], secrets: [MFA_SECRET] },
        lockout: { enabled: false },
      },
      { clock },
    );
    await enrolAppFactor(t, 'alice', 'flowAlicePhone0000002', ALICE_APP);
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    const [c] = certFromMetadata(md.text);
    assert.ok(c);
    cert = c;
  });
  after(async () => {
    await t.close();
  });

  test('the box ticked on the password page keeps the sign-in after the MFA step too', async () => {
    const jar = new Jar();
    const first = await get(t, wsfed(M365, { wauth: MULTIPLE_AUTHN }), jar);
    const mfa = await post(t, jar, first.text, {
      AuthMethod: 'FormsAuthentication',
      UserName: ALICE.username,
      Password: ALICE.password,
      Kmsi: 'true',
    });
    assert.match(mfa.text, /id="totpForm"/);
    const done = await request(t.app)
      .post('/adfs/ls/mfa')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(mfa.text, 'AuthState'),
        csrf: hidden(mfa.text, 'csrf'),
        Method: 'totp',
        Code: oathtool(ALICE_APP, clock.now()),
      });
    assert.equal(done.status, 200, done.text.slice(0, 300));
    assert.match(done.text, /name="wresult"/);
    const cookie = ssoCookie(done);
    assert.ok(cookie);
    assert.match(cookie, /Max-Age=28800(;|$)/, cookie);
    const claims = verifySaml11WithXmlCrypto(
      extractAssertionFromRstr(hidden(done.text, 'wresult')),
      cert,
    );
    assert.deepEqual(claims.attributes[PSSO], ['true']);
  });

  test('ticked on the user-name page, then unticked on the password page: not kept', async () => {
    const paged = await makeTestApp(
      { branding: { signIn: { paginated: true, keepMeSignedIn: true } } },
      { clock },
    );
    try {
      const jar = new Jar();
      const first = await get(paged, wsfed(M365), jar);
      assert.match(first.text, /id="kmsiInput"/);
      const second = await post(paged, jar, first.text, {
        AuthMethod: 'Identify',
        UserName: ALICE.username,
        Kmsi: 'true',
      });
      assert.match(second.text, /id="kmsiInput"[^>]* checked/, 'the choice is shown again');
      // The user unticks it: the form posts no Kmsi.
      const done = await post(paged, jar, second.text, {
        AuthMethod: 'FormsAuthentication',
        UserName: ALICE.username,
        Password: ALICE.password,
      });
      assert.match(done.text, /name="wresult"/);
      const cookie = ssoCookie(done);
      assert.ok(cookie);
      assert.doesNotMatch(cookie, /Max-Age|Expires/i, 'the last choice counts');
    } finally {
      await paged.close();
    }
  });
});
