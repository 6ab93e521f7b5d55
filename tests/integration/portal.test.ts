/**
 * The self-service security-info page /adfs/portal/ (issue 16 "Users manage their own factors") over HTTP on the
 * embedded directory: entering signs in through the pipeline (password, then the second factor; a password-only
 * session steps up), the factor list, rename (names shown escaped), adding an authenticator app (the code from
 * Debian's oathtool, an independent TOTP implementation), removing with a fresh second factor and the step-up when
 * it is stale, the session-bound CSRF token and Origin check, and another user's factor id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Enrolments } from '../../server/authn/mfa/factors.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  decodeEntities,
  formAction,
  hidden,
  Jar,
  makeTestApp,
  signIn,
  type TestApp,
} from '../helpers/app.ts';
import { oathtool, postMfaForm } from '../helpers/mfa.ts';

const PASSWORD = 'Passw0rd!';
const ALICE_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const BOB_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const ALICE_FACTOR = 'aliceFactor0000000000A';
const BOB_FACTOR = 'bobFactor0000000000000';

describe('security info page /adfs/portal/', () => {
  let t: TestApp;
  const clock = new FixedClock(Date.UTC(2026, 11, 6, 9, 0, 0));
  const origin = 'https://sts.fedgate.test';

  async function record(name: 'alice' | 'bob'): Promise<Enrolments> {
    const user = await t.services.directory.findUser(name);
    assert.ok(user, 'demo user');
    const store = t.services.mfa.enrolments;
    assert.ok(store, 'enrolment store');
    return store.read(user);
  }

  /** A post to the portal with the page's token (unless given), as the browser sends it. */
  async function portalPost(jar: Jar, page: string, fields: Record<string, string>) {
    const res = await request(t.app)
      .post('/adfs/portal/')
      .set('Cookie', jar.header())
      .set('Origin', origin)
      .type('form')
      .send({ csrf: hidden(page, 'csrf'), ...fields });
    jar.take(res);
    return res;
  }

  /** Answers the MFA page with a code from oathtool, follows the post back to the portal, returns the portal page. */
  async function passMfa(jar: Jar, mfaPage: string, secret: string): Promise<string> {
    assert.match(mfaPage, /id="totpForm"/, 'the second-factor page');
    const done = await postMfaForm(t, jar, mfaPage, {
      Method: 'totp',
      Code: oathtool(secret, clock.now()),
    });
    assert.equal(done.status, 200);
    // No token: a plain post back to the portal, with no fields at all.
    assert.equal(formAction(done.text), `${origin}/adfs/portal/`);
    assert.doesNotMatch(done.text, /<input type="hidden"/);
    const back = await request(t.app)
      .post('/adfs/portal/')
      .set('Cookie', jar.header())
      .set('Origin', origin)
      .type('form')
      .send({});
    assert.equal(back.status, 303);
    assert.equal(back.headers.location, '/adfs/portal/');
    const page = await request(t.app).get('/adfs/portal/').set('Cookie', jar.header());
    jar.take(page);
    assert.equal(page.status, 200);
    assert.match(page.text, /<h1>Security info<\/h1>/);
    return page.text;
  }

  /** Signs a user in at the portal from nothing: password, then the second factor. */
  async function enter(username: string, secret: string): Promise<{ jar: Jar; page: string }> {
    const jar = new Jar();
    const start = await request(t.app).get('/adfs/portal/');
    jar.take(start);
    assert.equal(start.status, 200);
    assert.match(start.text, /name="Password"/);
    assert.match(start.text, /Security info/, 'the sign-in page names the portal');
    const mfa = await request(t.app)
      .post('/adfs/ls/')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(start.text, 'AuthState'),
        csrf: hidden(start.text, 'csrf'),
        UserName: username,
        Password: PASSWORD,
        AuthMethod: 'FormsAuthentication',
      });
    jar.take(mfa);
    return { jar, page: await passMfa(jar, mfa.text, secret) };
  }

  before(async () => {
    t = await makeTestApp(
      {
        microsoft365: { federatedDomains: ['fedgate.test'] },
        mfa: { methods: ['totp'], enrolment: { allow: ['code'] }, freshMinutes: 10 },
      },
      { clock },
    );
    const store = t.services.mfa.enrolments;
    assert.ok(store, 'enrolment store');
    const created = clock.now().toISOString();
    for (const [name, id, secret] of [
      ['alice', ALICE_FACTOR, ALICE_SECRET],
      ['bob', BOB_FACTOR, BOB_SECRET],
    ] as const) {
      const user = await t.services.directory.findUser(name);
      assert.ok(user, 'demo user');
      await store.write(user, {
        v: 1,
        factors: [{ kind: 'totp', id, name: 'Phone', createdAt: created, secret }],
      });
    }
  });
  after(async () => {
    await t.close();
  });

  it('without a session: password, then the second factor, then the list (no secret on the page)', async () => {
    const { page } = await enter('alice@fedgate.test', ALICE_SECRET);
    assert.match(page, /alice@fedgate\.test/);
    assert.match(page, new RegExp(`data-factor-id="${ALICE_FACTOR}"`));
    assert.match(page, /class="factor-name">Phone</);
    assert.match(page, /Authenticator app/);
    assert.match(page, /Added Dec 6, 2026, 9:00\sAM UTC/);
    assert.doesNotMatch(page, new RegExp(BOB_FACTOR), 'only the user’s own factors');
    assert.ok(!page.includes(ALICE_SECRET) && !page.includes('JBSW Y3DP'), 'no secret shown');
    const required = t.logs.events('mfa_required').at(-1);
    assert.deepEqual([required?.protocol, required?.rp], ['portal', 'urn:fedgate:portal']);
  });

  it('a password-only session steps up to a second factor (no password again)', async () => {
    clock.advance(60_000);
    const first = await signIn(t.app, { username: 'bob@fedgate.test', password: PASSWORD });
    assert.match(first.res.text, /name="wresult"/, 'a password-only WS-Fed sign-in');
    const portal = await request(t.app).get('/adfs/portal/').set('Cookie', first.jar.header());
    first.jar.take(portal);
    assert.doesNotMatch(portal.text, /name="Password"/);
    const page = await passMfa(first.jar, portal.text, BOB_SECRET);
    assert.match(page, new RegExp(`data-factor-id="${BOB_FACTOR}"`));
  });

  it('rename: the new name is stored, shown escaped, and audited', async () => {
    clock.advance(60_000);
    const { jar, page } = await enter('alice@fedgate.test', ALICE_SECRET);
    const name = `<img src=x onerror="alert(1)"> Work & phone`;
    const res = await portalPost(jar, page, {
      Action: 'rename',
      FactorId: ALICE_FACTOR,
      FactorName: name,
    });
    assert.equal(res.status, 200);
    assert.match(res.text, /id="noticeText">Renamed\./);
    assert.ok(!res.text.includes('<img src=x'), 'the name is never markup');
    const shownName = /class="factor-name">([^<]*)</.exec(res.text)?.[1] ?? '';
    assert.match(shownName, /^&lt;img src/, 'escaped');
    assert.equal(decodeEntities(shownName), name);
    assert.equal((await record('alice')).factors[0]?.name, name);
    const ev = t.logs.events('mfa_enrolment').at(-1);
    assert.deepEqual(
      [ev?.action, ev?.by, ev?.route, ev?.factorId],
      ['renamed', 'self', 'mfa', ALICE_FACTOR],
    );
    // A name over 64 characters is cut, not refused; an empty one is refused.
    const long = await portalPost(jar, res.text, {
      Action: 'rename',
      FactorId: ALICE_FACTOR,
      FactorName: 'x'.repeat(200),
    });
    assert.equal(long.status, 200);
    assert.equal((await record('alice')).factors[0]?.name, 'x'.repeat(64));
    const empty = await portalPost(jar, res.text, {
      Action: 'rename',
      FactorId: ALICE_FACTOR,
      FactorName: ' \u0007 ',
    });
    assert.match(empty.text, /Enter a name/);
    await portalPost(jar, res.text, {
      Action: 'rename',
      FactorId: ALICE_FACTOR,
      FactorName: 'Phone',
    });
  });

  it('CSRF: a post without the session’s token, with another session’s token, or from another origin changes nothing', async () => {
    clock.advance(60_000);
    const alice = await enter('alice@fedgate.test', ALICE_SECRET);
    clock.advance(60_000);
    const bob = await enter('bob@fedgate.test', BOB_SECRET);
    const before = t.logs.events('csrf_rejected').length;
    const attempts = [
      // No token (a cross-site form cannot read one).
      { csrf: '', origin },
      // Bob's token with Alice's cookie: a token is good for its own session only.
      { csrf: hidden(bob.page, 'csrf'), origin },
      // Alice's own token, but posted from another site.
      { csrf: hidden(alice.page, 'csrf'), origin: 'https://evil.example' },
    ];
    for (const a of attempts) {
      const res = await request(t.app)
        .post('/adfs/portal/')
        .set('Cookie', alice.jar.header())
        .set('Origin', a.origin)
        .type('form')
        .send({ csrf: a.csrf, Action: 'rename', FactorId: ALICE_FACTOR, FactorName: 'Hacked' });
      assert.equal(res.status, 403, JSON.stringify(a));
      assert.doesNotMatch(res.text, /at \w+ \(/, 'no stack trace');
    }
    assert.equal((await record('alice')).factors[0]?.name, 'Phone');
    assert.equal(t.logs.events('csrf_rejected').length, before + attempts.length);
    // Control: the same post with the session's own token from our origin is accepted.
    const ok = await portalPost(alice.jar, alice.page, {
      Action: 'rename',
      FactorId: ALICE_FACTOR,
      FactorName: 'Phone',
    });
    assert.match(ok.text, /Renamed\./);
  });

  it('another user’s factor id is refused for rename and remove; their record is untouched', async () => {
    clock.advance(11 * 60_000);
    const { jar, page } = await enter('alice@fedgate.test', ALICE_SECRET);
    const bobBefore = await record('bob');
    const refusedBefore = t.logs.events('mfa_enrolment_refused').length;
    for (const fields of [
      { Action: 'rename', FactorId: BOB_FACTOR, FactorName: 'Mine now' },
      { Action: 'remove', FactorId: BOB_FACTOR },
      { Action: 'remove', FactorId: 'x'.repeat(100) },
      { Action: 'remove', FactorId: '../../etc' },
    ] as Record<string, string>[]) {
      const res = await portalPost(jar, page, fields);
      assert.equal(res.status, 200, JSON.stringify(fields));
      assert.match(res.text, /That verification method was not found/);
    }
    assert.deepEqual(await record('bob'), bobBefore);
    assert.equal((await record('alice')).factors.length, 1);
    assert.equal(t.logs.events('mfa_enrolment_refused').length, refusedBefore + 4);
    assert.equal(t.logs.events('mfa_enrolment_refused').at(-1)?.reason, 'invalid');
  });

  it('add an authenticator app: the secret is sealed in the form, the first code (oathtool) saves it, once', async () => {
    clock.advance(60_000);
    const { jar, page } = await enter('alice@fedgate.test', ALICE_SECRET);
    // The step-up used this time step's code: the new app's first code comes from the next one.
    clock.advance(30_000);
    const shown = await portalPost(jar, page, { Action: 'add-totp' });
    assert.match(shown.text, /id="addTotpForm"/);
    const secret = decodeEntities(/id="totpSecret">([^<]*)</.exec(shown.text)?.[1] ?? '').replace(
      /\s+/g,
      '',
    );
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const ceremony = hidden(shown.text, 'Ceremony');
    assert.ok(!ceremony.includes(secret), 'the secret is not in clear in the form');
    assert.ok(
      !Buffer.from(ceremony.split('.').at(-1) ?? '', 'base64url')
        .toString('latin1')
        .includes(secret),
      'sealed, not encoded',
    );
    // A wrong code: refused, counted, the same secret offered again.
    const wrong = await portalPost(jar, shown.text, {
      Action: 'confirm-totp',
      Ceremony: ceremony,
      Code: oathtool(secret, new Date(clock.now().getTime() - 10 * 60_000)),
    });
    assert.match(wrong.text, /That code did not work/);
    assert.equal((await record('alice')).factors.length, 1);
    const code = oathtool(secret, clock.now());
    const ok = await portalPost(jar, shown.text, {
      Action: 'confirm-totp',
      Ceremony: ceremony,
      Code: code,
      FactorName: 'Tablet',
    });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /Added “Tablet”/);
    const after = await record('alice');
    assert.equal(after.factors.length, 2);
    const added = after.factors[1];
    assert.ok(added?.kind === 'totp', 'a TOTP factor');
    assert.equal(added.secret, secret);
    assert.equal(added.name, 'Tablet');
    const ev = t.logs.events('mfa_enrolment').at(-1);
    assert.deepEqual(
      [ev?.action, ev?.method, ev?.by, ev?.route, ev?.factorId],
      ['added', 'totp', 'self', 'mfa', added.id],
    );
    // The same form again (a later code): the ceremony is used up.
    clock.advance(30_000);
    const again = await portalPost(jar, shown.text, {
      Action: 'confirm-totp',
      Ceremony: ceremony,
      Code: oathtool(secret, clock.now()),
    });
    assert.match(again.text, /took too long/);
    assert.equal((await record('alice')).factors.length, 2);
    // A ceremony sealed for another session does not open in this one.
    const bob = await enter('bob@fedgate.test', BOB_SECRET);
    const foreign = await portalPost(bob.jar, bob.page, {
      Action: 'confirm-totp',
      Ceremony: ceremony,
      Code: '123456',
    });
    assert.equal(foreign.status, 400);
    assert.equal((await record('bob')).factors.length, 1);
  });

  it('remove with a stale second factor steps up first; with a fresh one it removes, and the last one may go', async () => {
    clock.advance(60_000);
    const { jar, page } = await enter('alice@fedgate.test', ALICE_SECRET);
    const target = (await record('alice')).factors[1];
    assert.ok(target?.kind === 'totp', 'the added factor');
    // Older than mfa.freshMinutes: the post asks for the second factor again instead of removing.
    clock.advance(11 * 60_000);
    const stale = await portalPost(jar, page, { Action: 'remove', FactorId: target.id });
    assert.match(stale.text, /id="totpForm"/);
    assert.doesNotMatch(stale.text, /name="Password"/);
    assert.equal((await record('alice')).factors.length, 2, 'nothing removed yet');
    assert.match(String(t.logs.events('mfa_required').at(-1)?.reasons), /older than 10 minutes/);
    const back = await passMfa(jar, stale.text, ALICE_SECRET);
    const removed = await portalPost(jar, back, { Action: 'remove', FactorId: target.id });
    assert.match(removed.text, /id="noticeText">Removed\./);
    assert.deepEqual(
      (await record('alice')).factors.map((f) => f.id),
      [ALICE_FACTOR],
    );
    const ev = t.logs.events('mfa_enrolment').at(-1);
    assert.deepEqual(
      [ev?.action, ev?.factorId, ev?.by, ev?.route, ev?.count],
      ['removed', target.id, 'self', 'mfa', 1],
    );
    // Fresh: the last factor is removed at once, audited with none left.
    const last = await portalPost(jar, removed.text, { Action: 'remove', FactorId: ALICE_FACTOR });
    assert.match(last.text, /no verification method left/);
    assert.equal((await record('alice')).factors.length, 0);
    assert.equal(t.logs.events('mfa_enrolment').at(-1)?.count, 0);
    // Without a factor the portal does not enrol one (the MFA page's policy does): refused and audited.
    const add = await portalPost(jar, last.text, { Action: 'add-totp' });
    assert.doesNotMatch(add.text, /id="addTotpForm"/);
    assert.equal(t.logs.events('mfa_enrolment_refused').at(-1)?.reason, 'policy');
  });

  it('odd input never gives a 5xx', async () => {
    clock.advance(60_000);
    const { jar, page } = await enter('bob@fedgate.test', BOB_SECRET);
    const cases: Record<string, string>[] = [
      { Action: 'frobnicate' },
      { Action: 'x'.repeat(100) },
      { Action: 'confirm-totp', Ceremony: 'not.a.seal', Code: '1' },
      { Action: 'confirm-webauthn', Ceremony: 'x' },
      { Action: 'rename', FactorId: BOB_FACTOR, FactorName: 'y'.repeat(5000) },
    ];
    for (const c of cases) {
      const res = await portalPost(jar, page, c);
      assert.ok(res.status < 500, `${JSON.stringify(c).slice(0, 80)}: ${String(res.status)}`);
    }
    const arr = await request(t.app)
      .post('/adfs/portal/')
      .set('Cookie', jar.header())
      .type('form')
      .send(`csrf=${encodeURIComponent(hidden(page, 'csrf'))}&Action=remove&Action=rename`);
    assert.equal(arr.status, 400);
    const put = await request(t.app).put('/adfs/portal/');
    assert.equal(put.status, 405);
    // The theme below the portal path is still served.
    const css = await request(t.app).get('/adfs/portal/theme/signin.js');
    assert.equal(css.status, 200);
  });
});

describe('security info page: served only where it can work', () => {
  it('mfa.enrolment.portal false, or no method a user can enrol: /adfs/portal/ is not served; the theme still is', async () => {
    for (const mfa of [
      { methods: ['totp' as const], enrolment: { portal: false } },
      { methods: [] },
    ]) {
      const t = await makeTestApp({ mfa });
      try {
        const res = await request(t.app).get('/adfs/portal/');
        assert.equal(res.status, 404, JSON.stringify(mfa));
        assert.equal((await request(t.app).get('/adfs/portal/theme/signin.js')).status, 200);
      } finally {
        await t.close();
      }
    }
    // Control: the same server with the portal on serves it (the sign-in page, no session yet).
    const t = await makeTestApp({ mfa: { methods: ['totp'] } });
    try {
      const res = await request(t.app).get('/adfs/portal/');
      assert.equal(res.status, 200);
      assert.match(res.text, /name="Password"/);
    } finally {
      await t.close();
    }
  });
});
