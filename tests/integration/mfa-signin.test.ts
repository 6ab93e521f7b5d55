/**
 * The MFA step of the browser pipeline (issue 16) over HTTP, on the embedded directory: a policy that requires MFA
 * of everyone, first-factor enrolment with a helpdesk code, TOTP codes from Debian's oathtool (an independent
 * implementation), the token's MFA claims read by xml-crypto (not fedgate's code), step-up of a password-only
 * session, replay, the MFA lockout, a request's own ask (wauth=…multipleauthn), and MFA never claimed without it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { issueEnrolmentCode } from '../../server/authn/mfa/enrolments.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { cryptoRandom } from '../../server/lib/random.ts';
import { decodeEntities, hidden, M365, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import { AMR, MFA_INSTANT, MULTIPLE_AUTHN, oathtool, postMfaForm } from '../helpers/mfa.ts';
import { extractAssertionFromRstr, verifySaml11WithXmlCrypto } from '../helpers/verify.ts';

const PASSWORD = 'Passw0rd!';

function claimsOf(t: TestApp, html: string) {
  const assertion = extractAssertionFromRstr(hidden(html, 'wresult'));
  return verifySaml11WithXmlCrypto(assertion, t.services.signing.certificatePem);
}

describe('MFA step: policy everyone, TOTP enrolled with a helpdesk code', () => {
  let t: TestApp;
  const clock = new FixedClock(Date.UTC(2026, 11, 6, 9, 0, 0));
  let secret = '';

  before(async () => {
    t = await makeTestApp(
      {
        microsoft365: {
          federatedDomains: ['fedgate.test'],
          mfa: { accessControlPolicies: [{ kind: 'everyone' }] },
        },
        mfa: { methods: ['totp'], enrolment: { allow: ['code'] } },
      },
      { clock },
    );
  });
  after(async () => {
    await t.close();
  });

  /** alice signs in again with her password (wfresh=0: the SSO session does not stand in for it). */
  const aliceAgain = () =>
    signIn(t.app, { username: 'alice@fedgate.test', password: PASSWORD, query: { wfresh: '0' } });

  it('a user without a factor is asked for an enrolment code, then enrols TOTP, and the token says multipleauthn', async () => {
    const user = await t.services.directory.findUser('alice');
    assert.ok(user);
    const store = t.services.mfa.enrolments;
    assert.ok(store);
    let code = '';
    await store.update(user, (e) => {
      const r = issueEnrolmentCode(e, { clock, random: cryptoRandom, lifetimeHours: 1 });
      code = r.code;
      return r.enrolments;
    });
    const { res, jar } = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password: PASSWORD,
    });
    assert.equal(res.status, 200);
    assert.match(res.text, /id="enrolCodeForm"/);
    assert.equal(t.logs.events('mfa_required').length, 1);
    // A wrong code is refused and audited.
    const wrong = await postMfaForm(t, jar, res.text, {
      Method: 'code',
      EnrolmentCode: 'AAAA-BBBB-CCCC-DDDD',
    });
    assert.match(wrong.text, /did not work/);
    assert.equal(t.logs.events('mfa_enrolment_refused').at(-1)?.reason, 'code_wrong');
    const enrolPage = await postMfaForm(t, jar, wrong.text, {
      Method: 'code',
      EnrolmentCode: code.toLowerCase(),
    });
    assert.match(enrolPage.text, /id="enrolTotpForm"/);
    secret = decodeEntities(/id="totpSecret">([^<]*)</.exec(enrolPage.text)?.[1] ?? '').replace(
      /\s+/g,
      '',
    );
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const done = await postMfaForm(t, jar, enrolPage.text, {
      Method: 'enrol-totp',
      Code: oathtool(secret, clock.now()),
      FactorName: 'Phone',
    });
    assert.equal(done.status, 200);
    const claims = claimsOf(t, done.text);
    assert.deepEqual(claims.attributes[AMR]?.includes(MULTIPLE_AUTHN), true);
    assert.equal(claims.attributes[MFA_INSTANT]?.length, 1);
    const stored = await store.read(user);
    assert.equal(stored.factors.length, 1);
    assert.equal(stored.factors[0]?.name, 'Phone');
    assert.equal(stored.code, undefined, 'the enrolment code is used up');
  });

  it('signs in with a code from oathtool; the same code again is refused (replay)', async () => {
    clock.advance(60_000);
    const first = await signIn(t.app, { username: 'alice@fedgate.test', password: PASSWORD });
    assert.match(first.res.text, /id="totpForm"/);
    const codeNow = oathtool(secret, clock.now());
    const ok = await postMfaForm(t, first.jar, first.res.text, { Method: 'totp', Code: codeNow });
    assert.ok(claimsOf(t, ok.text).attributes[AMR]?.includes(MULTIPLE_AUTHN));
    const again = await aliceAgain();
    const replay = await postMfaForm(t, again.jar, again.res.text, {
      Method: 'totp',
      Code: codeNow,
    });
    assert.match(replay.text, /That code did not work/);
    assert.equal(t.logs.events('mfa').at(-1)?.reason, 'replayed');
  });

  it('a code from outside the drift window is refused', async () => {
    clock.advance(60_000);
    const s = await aliceAgain();
    const old = oathtool(secret, new Date(clock.now().getTime() - 5 * 60_000));
    const r = await postMfaForm(t, s.jar, s.res.text, { Method: 'totp', Code: old });
    assert.match(r.text, /That code did not work/);
    assert.equal(t.logs.events('mfa').at(-1)?.reason, 'wrong');
  });

  it('wrong codes reach the MFA lockout; then even the right code is refused, and it is audited', async () => {
    clock.advance(60_000);
    const s = await aliceAgain();
    let page = s.res.text;
    const failures = await t.services.mfa.lockout.failures(
      `guid:${(await t.services.directory.findUser('alice'))?.objectGuid.toString('base64') ?? ''}`,
    );
    for (let i = failures; i < 5; i++) {
      const r = await postMfaForm(t, s.jar, page, {
        Method: 'totp',
        Code: i % 2 === 0 ? '000000' : '999999',
      });
      page = r.text;
    }
    assert.equal(t.logs.events('mfa_locked_out').length, 1);
    assert.match(page, /Too many wrong verification attempts/);
    // The locked page has no form left; the pending sign-in's handle and token are those of the first page.
    const right = await postMfaForm(t, s.jar, s.res.text, {
      Method: 'totp',
      Code: oathtool(secret, clock.now()),
    });
    assert.doesNotMatch(right.text, /name="wresult"/);
    assert.equal(t.logs.events('mfa').at(-1)?.outcome, 'locked');
    clock.advance(16 * 60_000);
  });
});

describe('MFA step: only when asked (wauth=…multipleauthn), and step-up of a password-only session', () => {
  let t: TestApp;
  const clock = new FixedClock(Date.UTC(2026, 11, 6, 10, 0, 0));
  let secret = '';

  before(async () => {
    t = await makeTestApp(
      {
        microsoft365: { federatedDomains: ['fedgate.test'] },
        mfa: { methods: ['totp'], enrolment: { allow: ['code'] } },
      },
      { clock },
    );
    const user = await t.services.directory.findUser('bob');
    assert.ok(user);
    secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    await t.services.mfa.enrolments?.write(user, {
      v: 1,
      factors: [
        { kind: 'totp', id: 'f1', name: 'App', createdAt: clock.now().toISOString(), secret },
      ],
    });
  });
  after(async () => {
    await t.close();
  });

  it('a password-only sign-in has no MFA claims; wauth=multipleauthn then steps the live session up', async () => {
    const first = await signIn(t.app, { username: 'bob@fedgate.test', password: PASSWORD });
    const plain = claimsOf(t, first.res.text);
    assert.equal(plain.attributes[AMR]?.includes(MULTIPLE_AUTHN) ?? false, false);
    assert.equal(plain.attributes[MFA_INSTANT], undefined);
    const ssoBefore = first.jar.get('__Host-fedgate_sso') ?? first.jar.header();

    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wauth: MULTIPLE_AUTHN });
    const ask = await request(t.app)
      .get(`/adfs/ls/?${q.toString()}`)
      .set('Cookie', first.jar.header());
    first.jar.take(ask);
    assert.match(
      ask.text,
      /id="totpForm"/,
      'the live session is not enough: the page asks for the second factor',
    );
    assert.doesNotMatch(
      ask.text,
      /name="Password"/,
      'no password again: the session is stepped up',
    );
    const done = await postMfaForm(t, first.jar, ask.text, {
      Method: 'totp',
      Code: oathtool(secret, clock.now()),
    });
    const mfa = claimsOf(t, done.text);
    assert.ok(mfa.attributes[AMR]?.includes(MULTIPLE_AUTHN));
    assert.notEqual(
      first.jar.get('__Host-fedgate_sso') ?? first.jar.header(),
      ssoBefore,
      'a new session',
    );

    // The stepped-up session now answers a later MFA request without a prompt.
    const later = await request(t.app)
      .get(`/adfs/ls/?${q.toString()}`)
      .set('Cookie', first.jar.header());
    assert.match(later.text, /name="wresult"/);
    assert.ok(claimsOf(t, later.text).attributes[AMR]?.includes(MULTIPLE_AUTHN));
  });
  it("one sign-out after a step-up still cleans up the party that got a token before it (the ended session's parties carry over)", async () => {
    clock.advance(90_000);
    // Password only, to the built-in test party (urn:fedgate:test, reply /adfs/test/result).
    const first = await signIn(t.app, {
      username: 'bob@fedgate.test',
      password: PASSWORD,
      realm: 'urn:fedgate:test',
    });
    assert.match(first.res.text, /name="wresult"/);
    // Then Microsoft 365 asks for MFA: the session steps up (a new session id).
    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wauth: MULTIPLE_AUTHN });
    const ask = await request(t.app)
      .get(`/adfs/ls/?${q.toString()}`)
      .set('Cookie', first.jar.header());
    first.jar.take(ask);
    const done = await postMfaForm(t, first.jar, ask.text, {
      Method: 'totp',
      Code: oathtool(secret, clock.now()),
    });
    assert.match(done.text, /name="wresult"/);
    // One sign-out: both parties are cleaned up, the one from before the step-up included.
    const out = await request(t.app)
      .get('/adfs/ls/?wa=wsignout1.0')
      .set('Cookie', first.jar.header());
    assert.equal(out.status, 200);
    const page = decodeEntities(out.text);
    assert.match(page, /https:\/\/login\.microsoftonline\.com\/login\.srf\?wa=wsignoutcleanup1\.0/);
    assert.match(page, /https:\/\/sts\.fedgate\.test\/adfs\/test\/result\?wa=wsignoutcleanup1\.0/);
  });
});
