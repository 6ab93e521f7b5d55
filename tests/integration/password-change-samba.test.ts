import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { authenticateWithPassword, type SignInAttempt } from '../../server/authn/password.ts';
import { POLICY_MESSAGES } from '../../server/authn/password-change.ts';
import {
  adminModify,
  badPwdCount,
  resetPassword,
  isTokenPage,
  signInFrom,
} from '../helpers/account-protection.ts';
import { Jar, M365, decodeEntities, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';
import { sambaEnv, sambaLdapConfig, type SambaEnv } from '../helpers/samba.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
} from '../helpers/verify.ts';

// Password change end to end against the Samba AD DC: pwchg1 must change its password (773), pwchg2's has expired
// (532), pwchg3 is normal (the portal page). Each is reset as Administrator first, so the file can run again.

function errorText(html: string): string | undefined {
  const m = /id="errorText"[^>]*>([^<]*)</.exec(html);
  return m?.[1] === undefined ? undefined : decodeEntities(m[1]);
}

describe('password change against Active Directory (Samba, LDAPS unicodePwd delete/add)', () => {
  let env: SambaEnv;
  let t: TestApp;
  before(async () => {
    env = sambaEnv();
    resetPassword(env, 'pwchg1', 'mustChange');
    resetPassword(env, 'pwchg2', 'expired');
    resetPassword(env, 'pwchg3', 'normal');
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
    });
  });
  after(async () => {
    await t.close();
  });

  async function changeFlow(user: 'pwchg1' | 'pwchg2', ip: string): Promise<void> {
    const old = env.users[user].password;
    const first = await signInFrom(t.app, { username: user, password: old, xff: ip });
    assert.equal(first.res.status, 200);
    assert.ok(first.res.text.includes('id="updatePasswordForm"'), first.res.text.slice(0, 400));
    assert.ok(!isTokenPage(first.res));
    const jar = first.jar;
    const post = (fields: Record<string, string>, page: string) =>
      request(t.app)
        .post('/adfs/portal/updatepassword/')
        .set('X-Forwarded-For', ip)
        .set('Cookie', jar.header())
        .type('form')
        .send({ Ticket: hidden(page, 'Ticket'), csrf: hidden(page, 'csrf'), ...fields });

    // A weak new password: AD's policy refuses it and the page says why.
    const weak = await post(
      { OldPassword: old, NewPassword: 'short1', ConfirmNewPassword: 'short1' },
      first.res.text,
    );
    assert.equal(weak.status, 200);
    assert.equal(errorText(weak.text), POLICY_MESSAGES.too_short);
    const simple = await post(
      {
        OldPassword: old,
        NewPassword: 'alllowercaseletters',
        ConfirmNewPassword: 'alllowercaseletters',
      },
      weak.text,
    );
    assert.equal(errorText(simple.text), POLICY_MESSAGES.complexity);
    // Mismatched confirmation never reaches AD.
    const mismatch = await post(
      { OldPassword: old, NewPassword: 'Str0ng-Pass-1', ConfirmNewPassword: 'Str0ng-Pass-2' },
      simple.text,
    );
    assert.equal(errorText(mismatch.text), 'The new passwords do not match.');

    const fresh = `Nw-${Math.random().toString(36).slice(2, 10)}-9Q`;
    const done = await post(
      { OldPassword: old, NewPassword: fresh, ConfirmNewPassword: fresh },
      mismatch.text,
    );
    assert.equal(done.status, 200);
    // Back to the same pending sign-in, asking for the new password.
    assert.ok(done.text.includes('id="noticeText"'), done.text.slice(0, 400));
    assert.ok(done.text.includes('name="AuthState"'));
    const finish = await request(t.app)
      .post('/adfs/ls/')
      .set('X-Forwarded-For', ip)
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(done.text, 'AuthState'),
        csrf: hidden(done.text, 'csrf'),
        UserName: user,
        Password: fresh,
      });
    assert.ok(isTokenPage(finish), finish.text.slice(0, 400));
    const cert = certFromMetadata(
      (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
    )[0]!;
    const claims = verifySaml11WithXmlCrypto(
      extractAssertionFromRstr(hidden(finish.text, 'wresult')),
      cert,
    );
    assert.equal(claims.attributes.UPN?.[0] ?? env.users[user].upn, env.users[user].upn);
    // (Samba, like AD for NTLM, still accepts the previous password for an "old password allowed period", so
    // the old password is not tested here.)
    const leaked = t.logs.raw.filter((l) => l.includes(fresh) || l.includes(old));
    assert.deepEqual(leaked, [], 'no password in logs');
  }

  test('must-change user (773) changes the password in AD, then finishes signing in', async () => {
    await changeFlow('pwchg1', '203.0.113.21');
    assert.equal(t.logs.events('password_change_required')[0]?.reason, 'ad:773');
    assert.ok(t.logs.events('password_change').some((e) => e.outcome === 'success'));
  });

  test('expired-password user (532) changes the password in AD, then finishes signing in', async () => {
    await changeFlow('pwchg2', '203.0.113.22');
    assert.ok(t.logs.events('password_change_required').some((e) => e.reason === 'ad:532'));
  });

  test('a wrong password never shows the change page (no oracle without the right password, C1.9)', async () => {
    resetPassword(env, 'pwchg1', 'mustChange');
    const { res } = await signInFrom(t.app, {
      username: 'pwchg1',
      password: 'Not-The-Pw-1',
      xff: '203.0.113.23',
    });
    assert.ok(!res.text.includes('updatePasswordForm'));
  });

  test('/adfs/portal/updatepassword/: change, wrong current password, CSRF and history', async () => {
    const jar = new Jar();
    const ip = '203.0.113.24';
    const page = await request(t.app)
      .get('/adfs/portal/updatepassword/')
      .set('X-Forwarded-For', ip);
    assert.equal(page.status, 200);
    assert.equal(page.headers['cache-control'], 'no-store');
    jar.take(page);
    const send = (fields: Record<string, string>, html: string, cookie = jar.header()) =>
      request(t.app)
        .post('/adfs/portal/updatepassword/')
        .set('X-Forwarded-For', ip)
        .set('Cookie', cookie)
        .type('form')
        .send({ Ticket: hidden(html, 'Ticket'), csrf: hidden(html, 'csrf'), ...fields });
    const old = env.users.pwchg3.password;
    const fresh = `Pt-${Math.random().toString(36).slice(2, 10)}-7Z`;
    // CSRF: without the cookie the form was made for, 403 with an activity id, nothing changed.
    const forged = await send(
      { UserName: 'pwchg3', OldPassword: old, NewPassword: fresh, ConfirmNewPassword: fresh },
      page.text,
      '',
    );
    assert.equal(forged.status, 403);
    assert.match(forged.text, /[0-9a-f-]{36}/);
    const wrong = await send(
      {
        UserName: 'pwchg3',
        OldPassword: 'Wrong-Current-1',
        NewPassword: fresh,
        ConfirmNewPassword: fresh,
      },
      page.text,
    );
    assert.match(errorText(wrong.text) ?? '', /current password is incorrect/);
    assert.equal(
      t.logs.events('password_change').filter((e) => e.eventId === 1203).length,
      1,
      'a wrong current password is a bad password for lockout',
    );
    const ok = await send(
      { UserName: `CORP\\pwchg3`, OldPassword: old, NewPassword: fresh, ConfirmNewPassword: fresh },
      wrong.text,
    );
    assert.ok(ok.text.includes('id="passwordUpdated"'), ok.text.slice(0, 400));
    // History: going back to the old password is refused with AD's reason.
    const page2 = await request(t.app)
      .get('/adfs/portal/updatepassword/')
      .set('Cookie', jar.header());
    const back = await send(
      { UserName: 'pwchg3', OldPassword: fresh, NewPassword: old, ConfirmNewPassword: old },
      page2.text,
    );
    assert.equal(errorText(back.text), POLICY_MESSAGES.history);
    const signin = await signInFrom(t.app, { username: 'pwchg3', password: fresh, xff: ip });
    assert.ok(isTokenPage(signin.res));
  });
  test('AD FS 515 after a password change made outside fedgate: the old password no longer counts as correct', async () => {
    // The "correct password while locked" verifier is remade only when AD's pwdLastSet changes (forms.ts); an
    // administrator's reset in AD must be picked up at the next successful sign-in.
    resetPassword(env, 'pwchg3', 'normal');
    const old = env.users.pwchg3.password;
    const fresh = `Rst-${randomUUID().slice(0, 12)}!`;
    const app = await makeTestApp({ directory: sambaLdapConfig(env), lockout: { threshold: 2 } });
    try {
      const attempt = (password: string, clientIp: string): SignInAttempt => ({
        username: 'pwchg3',
        password,
        clientIp,
        activityId: randomUUID(),
        relyingParty: M365,
        method: 'forms',
      });
      const familiar = '10.9.8.7';
      const unknown = '203.0.113.44';
      assert.equal((await authenticateWithPassword(app.services, attempt(old, familiar))).ok, true);
      const pw = Buffer.from(`"${fresh}"`, 'utf16le').toString('base64');
      adminModify(
        env,
        `dn: ${env.users.pwchg3.dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: ${pw}\n-\n`,
      );
      assert.equal(
        (await authenticateWithPassword(app.services, attempt(fresh, familiar))).ok,
        true,
      );
      for (let i = 0; i < 2; i++)
        assert.equal(
          (await authenticateWithPassword(app.services, attempt('wrong-1', unknown))).ok,
          false,
        );
      assert.equal(app.logs.events('account_locked_out').length, 1);
      await authenticateWithPassword(app.services, attempt(old, unknown));
      assert.equal(app.logs.events('correct_password_while_locked').length, 0, 'old password');
      await authenticateWithPassword(app.services, attempt(fresh, unknown));
      assert.equal(app.logs.events('correct_password_while_locked').length, 1, 'new password');
      assert.ok(badPwdCount(env, 'pwchg3') < 10, 'AD never reaches its own threshold');
    } finally {
      await app.close();
      resetPassword(env, 'pwchg3', 'normal');
    }
  });
});
